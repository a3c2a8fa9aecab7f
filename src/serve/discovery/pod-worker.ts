import type { V1Pod } from '@kubernetes/client-node';
import { UserError } from '../../util/errors.js';
import { workerFromObject, type WorkerSpec } from '../worker-spec.js';

/** How pods become workers; see docs/kubernetes.md. */
export interface PodMapping {
  /** Port of the engine when the pod gives none through `portAnnotation`. */
  port: number;
  /** Annotation (or label) whose value is the engine's port, e.g. `router/port`. */
  portAnnotation?: string;
  /** Prefix of the label/annotation keys that carry worker labels: `<prefix>gpu`, `<prefix>model`, ... */
  labelPrefix: string;
  /** Label (or annotation) whose value is the pod's role (prefill, decode, both). */
  roleLabel: string;
}

/** Worker labels read from a pod, annotations first, then labels. */
const FIELDS = ['name', 'gpu', 'profile', 'model', 'cost'] as const;

export type PodState =
  | { ready: true; spec: WorkerSpec }
  | { ready: false; why: string }
  /** The pod is Ready but describes itself wrongly (bad port or label): skipped, with the reason. */
  | { ready: false; why: string; invalid: true };

export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

function meta(pod: V1Pod, key: string): string | undefined {
  return pod.metadata?.annotations?.[key] ?? pod.metadata?.labels?.[key];
}

/**
 * A pod takes requests when it is Running, has an IP, its Ready condition is True and it is not
 * terminating (the endpoints controller drops terminating pods too, before their containers stop).
 */
export function podState(pod: V1Pod, m: PodMapping): PodState {
  const st = pod.status;
  if (pod.metadata?.deletionTimestamp) return { ready: false, why: 'terminating' };
  if (st?.phase !== 'Running') return { ready: false, why: `phase ${st?.phase ?? 'unknown'}` };
  if (!st.podIP) return { ready: false, why: 'no pod IP yet' };
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return { ready: false, why: 'not Ready' };
  const where = `pod ${podKey(pod)}`;
  let port = m.port;
  if (m.portAnnotation) {
    const raw = meta(pod, m.portAnnotation);
    if (raw !== undefined) {
      port = Number(raw);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        return { ready: false, invalid: true, why: `${where}: annotation ${m.portAnnotation}="${raw}" is not a port (1-65535)` };
      }
    }
  }
  const host = st.podIP.includes(':') ? `[${st.podIP}]` : st.podIP;
  const o: Record<string, string> = { url: `http://${host}:${port}`, name: pod.metadata?.name ?? st.podIP };
  for (const f of FIELDS) {
    const v = meta(pod, m.labelPrefix + f);
    if (v !== undefined) o[f] = v;
  }
  let spec: WorkerSpec;
  try {
    spec = workerFromObject(o, where);
  } catch (err) {
    if (err instanceof UserError) return { ready: false, invalid: true, why: err.message };
    throw err;
  }
  // KV events (precise prefix routing): vLLM's publisher binds tcp://*:PORT in the pod.
  const kvKey = `${m.labelPrefix}kv-events-port`;
  const kvPort = meta(pod, kvKey);
  if (kvPort !== undefined) {
    const p = Number(kvPort);
    if (!Number.isInteger(p) || p < 1 || p > 65535) return { ready: false, invalid: true, why: `${where}: annotation ${kvKey}="${kvPort}" is not a port (1-65535)` };
    spec.kvEvents = `tcp://${host}:${p}`;
  }
  spec.source = 'kubernetes';
  spec.pod = podKey(pod);
  const role = meta(pod, m.roleLabel);
  if (role !== undefined) spec.role = role;
  return { ready: true, spec };
}

/** Two specs route the same way (URL and every label); a change re-registers the worker. */
export function sameSpec(a: WorkerSpec, b: WorkerSpec): boolean {
  return a.url === b.url && a.name === b.name && a.gpu === b.gpu && a.profile === b.profile && a.model === b.model && a.costUsdPerHour === b.costUsdPerHour && a.role === b.role && a.kvEvents === b.kvEvents;
}
