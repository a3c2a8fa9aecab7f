{{/* Name of every object of the release: the release name, cut to the 63 characters a label allows. */}}
{{- define "router.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "router.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "router.labels" -}}
{{ include "router.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Namespace of the engine pods (where the Role must be). */}}
{{- define "router.podNamespace" -}}
{{- .Values.discovery.namespace | default .Release.Namespace -}}
{{- end -}}
