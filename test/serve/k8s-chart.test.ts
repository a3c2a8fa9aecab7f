import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import * as k8s from '@kubernetes/client-node';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Chart } from './k8s-helm-render.js';
import { FakeKubeApi } from './k8s-api-server.js';
import { CLI, call, until } from './helpers.js';
import { parseServeConfig } from '../../src/serve/worker-spec.js';
import { createPolicy, parsePolicyOptions } from '../../src/routing/registry.js';

/**
 * deploy/helm/router rendered (test/serve/k8s-helm-render.ts: helm is not installable here) and
 * every manifest validated against the Kubernetes object schemas twice: the JSON schemas of
 * `kubernetes-models` (types, required fields, formats) and the OpenAPI-generated models of
 * `@kubernetes/client-node` (no unknown field anywhere, so a typo'd key cannot slip through).
 * Then the Deployment's own command line is run against the fake API server.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = join(ROOT, 'deploy/helm/router');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

function manifests(overrides: Record<string, unknown> = {}, release = { name: 'router', namespace: 'serving' }): Manifest[] {
  const out: Manifest[] = [];
  for (const [file, text] of new Chart(CHART).render(release, overrides)) {
    for (const doc of parseAllDocuments(text)) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      const v = doc.toJS() as Manifest | null;
      if (v !== null) out.push(v);
    }
  }
  return out;
}

/** kubernetes-models' class (JSON schema from the Kubernetes OpenAPI) for each kind the chart makes. */
const SCHEMAS: Record<string, { new (o: never): { validate(): void } }> = {
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
  'apps/v1 Deployment': Deployment,
  'rbac.authorization.k8s.io/v1 Role': Role,
  'rbac.authorization.k8s.io/v1 RoleBinding': RoleBinding,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
};

function schemaClass(m: Manifest): { new (o: never): { validate(): void } } {
  const cls = SCHEMAS[`${m.apiVersion} ${m.kind}`];
  assert.ok(cls, `no schema for ${m.apiVersion} ${m.kind}`);
  return cls;
}

type AttrMap = { name: string; baseName: string; type: string }[];
const TYPES = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttrMap }>;

/** Every key of `v` must be a field of the OpenAPI type `type`, recursively. */
function noUnknownFields(v: unknown, type: string, path: string): string[] {
  if (v === null || v === undefined) return [];
  let m: RegExpExecArray | null;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(v)) return [`${path}: expected a list`];
    return v.flatMap((x, i) => noUnknownFields(x, m![1], `${path}[${i}]`));
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof v !== 'object' || Array.isArray(v)) return [`${path}: expected a map`];
    return Object.entries(v).flatMap(([k, x]) => noUnknownFields(x, m![1], `${path}.${k}`));
  }
  const cls = TYPES[type];
  if (!cls?.getAttributeTypeMap) return [];
  if (typeof v !== 'object' || Array.isArray(v)) return [`${path}: expected an object (${type})`];
  const attrs = cls.getAttributeTypeMap();
  const errs: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    const a = attrs.find((f) => f.baseName === k);
    if (!a) errs.push(`${path}.${k}: not a field of ${type}`);
    else errs.push(...noUnknownFields(x, a.type, `${path}.${k}`));
  }
  return errs;
}

function validate(m: Manifest): void {
  const Cls = schemaClass(m);
  assert.doesNotThrow(() => new Cls(m as never).validate(), `${m.kind} ${m.metadata.name} against the kubernetes-models schema`);
  const version = m.apiVersion.split('/').pop()!;
  const typeName = `${version[0].toUpperCase()}${version.slice(1)}${m.kind}`;
  assert.ok(TYPES[typeName]?.getAttributeTypeMap, `no client-node model ${typeName}`);
  assert.deepEqual(noUnknownFields(m, typeName, m.kind), [], `${m.kind} ${m.metadata.name}: unknown fields`);
}

const byKind = (ms: Manifest[], kind: string): Manifest[] => ms.filter((m) => m.kind === kind);
const one = (ms: Manifest[], kind: string): Manifest => {
  const xs = byKind(ms, kind);
  assert.equal(xs.length, 1, `one ${kind}`);
  return xs[0];
};

interface Container {
  name: string;
  image: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: Record<string, string> };
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom: { configMapRef: { name: string } }[];
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> | null }; spec: { serviceAccountName: string; terminationGracePeriodSeconds: number; securityContext: { runAsNonRoot: boolean }; containers: Container[] } };
}

test('the chart renders to valid Kubernetes objects: Deployment, Service, ServiceAccount, Role, RoleBinding, ConfigMap, PodDisruptionBudget', () => {
  const ms = manifests();
  assert.deepEqual(ms.map((m) => m.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
  for (const m of ms) validate(m);
  for (const m of ms) assert.equal(m.metadata.namespace, 'serving');

  const dep = one(ms, 'Deployment').spec as DeploymentSpec;
  const c = dep.template.spec.containers[0];
  assert.equal(dep.replicas, 2);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readiness', port: 'http' });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/health', port: 'http' });
  assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]), [['http', 8080]]);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests');
  assert.equal(dep.template.spec.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(dep.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });
  assert.ok(dep.template.spec.terminationGracePeriodSeconds > 30 + 5, 'the grace period outlasts preStop + drain');
  // Selectors: the Deployment's, the Service's and the PDB's all pick the pod template's labels.
  const podLabels = dep.template.metadata.labels;
  const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  assert.ok(matches(dep.selector.matchLabels));
  const svc = one(ms, 'Service').spec as { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
  assert.ok(matches(svc.selector));
  assert.deepEqual(svc.ports.map((p) => [p.port, p.targetPort]), [[80, 'http']]);
  const pdb = one(ms, 'PodDisruptionBudget').spec as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
  assert.ok(matches(pdb.selector.matchLabels));
  assert.equal(pdb.maxUnavailable, 1);
  // RBAC: exactly get/list/watch on pods, bound to the pods' service account.
  const sa = one(ms, 'ServiceAccount');
  assert.equal(dep.template.spec.serviceAccountName, sa.metadata.name);
  const role = one(ms, 'Role') as Manifest & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
  const rb = one(ms, 'RoleBinding') as Manifest & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
  assert.deepEqual(rb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'serving' }]);
  // The ConfigMap feeds the container: the env references and serve's --config file.
  const cm = one(ms, 'ConfigMap') as Manifest & { data: Record<string, string> };
  assert.equal(c.envFrom[0].configMapRef.name, cm.metadata.name);
  for (const ref of c.args.join(' ').matchAll(/\$\((\w+)\)/g)) assert.ok(ref[1] in cm.data, `$(${ref[1]}) is in the ConfigMap`);
  assert.equal(cm.data.K8S_SELECTOR, 'app=vllm');
  assert.equal(cm.data.K8S_NAMESPACE, 'serving');
});

test('values change the objects as documented: disabled PDB, pods in another namespace, keys, tracing, extra args', () => {
  const ms = manifests({
    podDisruptionBudget: { enabled: false },
    discovery: { namespace: 'engines', portAnnotation: 'router/port' },
    keysSecret: 'router-keys',
    tracing: { otlpEndpoint: 'http://otel-collector.observability:4318' },
    extraArgs: ['--max-attempts', '3'],
    metrics: { scrapeAnnotations: false },
    podAnnotations: { team: 'inference' },
    policy: 'cache-aware',
    policyOptions: { cache_threshold: 0.5 },
    staticWorkers: [{ url: 'http://10.0.0.9:8000', gpu: 'h100-sxm', name: 'outside' }],
  });
  for (const m of ms) validate(m);
  assert.equal(byKind(ms, 'PodDisruptionBudget').length, 0);
  assert.equal(one(ms, 'Role').metadata.namespace, 'engines', 'the Role lives with the pods it reads');
  assert.equal(one(ms, 'RoleBinding').metadata.namespace, 'engines');
  const c = (one(ms, 'Deployment').spec as DeploymentSpec).template.spec.containers[0];
  assert.ok(c.args.includes('--k8s-port-annotation=router/port'));
  assert.deepEqual(c.args.slice(-2), ['--max-attempts', '3']);
  const env = new Map((c.env ?? []).map((e) => [e.name, e]));
  assert.deepEqual(env.get('ROUTER_ADMIN_KEY')?.valueFrom?.secretKeyRef, { name: 'router-keys', key: 'admin-key', optional: true });
  assert.equal(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://otel-collector.observability:4318');
  assert.deepEqual((one(ms, 'Deployment').spec as DeploymentSpec).template.metadata.annotations, { team: 'inference' });
  // serve's --config parser reads the ConfigMap's file, and the policy exists with its options.
  const dir = mkdtempSync(join(tmpdir(), 'router-chart-'));
  try {
    const file = join(dir, 'router.yaml');
    writeFileSync(file, (one(ms, 'ConfigMap') as Manifest & { data: Record<string, string> }).data['router.yaml']);
    const cfg = parseServeConfig(file);
    assert.equal(cfg.policy, 'cache-aware');
    assert.deepEqual(cfg.workers.map((w) => [w.url, w.gpu, w.name]), [['http://10.0.0.9:8000', 'h100-sxm', 'outside']]);
    assert.equal(createPolicy(cfg.policy, { ...cfg.policyOpts, ...parsePolicyOptions([]) }).name, 'cache-aware');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the unknown-field check catches a misspelt key deep in a manifest', () => {
  const typo = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', imagePullPolcy: 'Always' }] } } } };
  assert.deepEqual(noUnknownFields(typo, 'V1Deployment', 'Deployment'), ['Deployment.spec.template.spec.containers[0].imagePullPolcy: not a field of V1Container']);
});

test('the renderer refuses template syntax it does not implement (so the chart cannot depend on it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-chart-bad-'));
  try {
    writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 0.0.1\nappVersion: "1"\n');
    writeFileSync(join(dir, 'values.yaml'), 'x: a\nlist: [1]\n');
    mkdirSync(join(dir, 'templates'));
    for (const [body, re] of [
      ['{{ .Values.x | upper }}', /unsupported function "upper"/],
      ['{{ range .Values.list }}x{{ end }}', /unsupported/],
      ['{{ .Values.missing }}', /missing value/],
    ] as const) {
      writeFileSync(join(dir, 'templates', 't.yaml'), body);
      assert.throws(() => new Chart(dir).render({ name: 'r', namespace: 'n' }), re);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

let api: FakeKubeApi | undefined;
after(async () => {
  await api?.stop();
});

test("the Deployment's command line starts serve: $(VAR)s expanded from the ConfigMap, pods discovered through the API", { timeout: 60_000 }, async () => {
  const ms = manifests({}, { name: 'router', namespace: 'llm' });
  const c = (one(ms, 'Deployment').spec as DeploymentSpec).template.spec.containers[0];
  const data = (one(ms, 'ConfigMap') as Manifest & { data: Record<string, string> }).data;
  api = new FakeKubeApi();
  await api.start();
  api.createPod('llm', 'vllm-0', { ip: '127.0.0.1', ready: true, labels: { app: 'vllm', 'router/gpu': 'l20' } });
  const dir = mkdtempSync(join(tmpdir(), 'router-chart-run-'));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig('default'));
  writeFileSync(join(dir, 'router.yaml'), data['router.yaml']);
  // Kubernetes expands $(VAR) in args from the container's environment (here: the ConfigMap).
  const args = c.args.map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => data[v])).map((a) => (a.startsWith('--host=') ? '--host=127.0.0.1' : a.startsWith('--port=') ? '--port=0' : a.startsWith('--config=') ? `--config=${join(dir, 'router.yaml')}` : a));
  assert.equal(args[0], 'serve');
  const child = spawn(process.execPath, [CLI, ...args, '--log', 'off', '--health-interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig') } });
  let out = '';
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  try {
    assert.ok(await until(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.test(out) || child.exitCode !== null, 20_000), out);
    assert.equal(child.exitCode, null, out);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    assert.ok(await until(() => /\+ llm\/vllm-0 http:\/\/127\.0\.0\.1:8000 \(gpu=l20[,)]/.test(out), 10_000), out);
    assert.equal((await call(port, 'GET', '/readiness')).status, 200);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
