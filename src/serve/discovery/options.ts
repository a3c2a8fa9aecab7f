import { DEFAULTS } from '../../defaults.js';
import { UserError } from '../../util/errors.js';
import type { KubernetesDiscoveryOptions } from './kubernetes.js';

export interface KubernetesFlags {
  k8sSelector?: string;
  k8sNamespace?: string;
  k8sPort?: string;
  k8sPortAnnotation?: string;
  k8sRoleLabel?: string;
  k8sLabelPrefix?: string;
  k8sRetryMax?: string;
}

const K = DEFAULTS.kubernetes;
/** A label/annotation key: optional DNS-subdomain prefix and "/", then a name (Kubernetes' rule, loosely). */
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Discovery options from serve's --k8s-* flags; undefined when --k8s-selector is absent. */
export function kubernetesOptionsFromFlags(f: KubernetesFlags, seed: number, log: (line: string) => void): KubernetesDiscoveryOptions | undefined {
  if (f.k8sSelector === undefined) {
    const stray = (['k8sNamespace', 'k8sPort', 'k8sPortAnnotation', 'k8sRoleLabel', 'k8sLabelPrefix', 'k8sRetryMax'] as const).find((k) => f[k] !== undefined);
    if (stray) throw new UserError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --k8s-selector (the label selector of the engine pods, e.g. app=vllm)`);
    return undefined;
  }
  const selector = f.k8sSelector.trim();
  if (selector === '') throw new UserError('--k8s-selector: expected a label selector such as app=vllm, got an empty string');
  const port = f.k8sPort === undefined ? K.port : Number(f.k8sPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`--k8s-port: expected a port number 1-65535, got "${f.k8sPort}"`);
  for (const [flag, v] of [['--k8s-port-annotation', f.k8sPortAnnotation], ['--k8s-role-label', f.k8sRoleLabel]] as const) {
    if (v !== undefined && !KEY.test(v)) throw new UserError(`${flag}: "${v}" is not a Kubernetes label/annotation key (e.g. router/port)`);
  }
  const prefix = f.k8sLabelPrefix ?? K.labelPrefix;
  if (prefix !== '' && !KEY.test(`${prefix}gpu`)) throw new UserError(`--k8s-label-prefix: "${prefix}" + "gpu" is not a label key (expected something like router/ or example.com/)`);
  const ns = f.k8sNamespace;
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new UserError(`--k8s-namespace: "${ns}" is not a namespace name (lowercase letters, digits and '-', at most 63)`);
  const retryMaxS = f.k8sRetryMax === undefined ? K.retryMaxS : Number(f.k8sRetryMax);
  if (!Number.isFinite(retryMaxS) || retryMaxS <= 0) throw new UserError(`--k8s-retry-max: expected seconds > 0, got "${f.k8sRetryMax}"`);
  return {
    selector,
    namespace: ns,
    mapping: { port, portAnnotation: f.k8sPortAnnotation, labelPrefix: prefix, roleLabel: f.k8sRoleLabel ?? K.roleLabel },
    backoff: { initialMs: Math.min(K.retryInitialMs, retryMaxS * 1000), maxMs: retryMaxS * 1000, multiplier: K.retryMultiplier, jitter: K.retryJitter },
    watchTimeoutS: K.watchTimeoutS,
    pageSize: K.listPageSize,
    seed,
    log,
  };
}
