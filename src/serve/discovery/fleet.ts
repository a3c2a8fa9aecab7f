import type { WorkerSpec } from '../worker-spec.js';

/** A worker found by a discovery source (a Kubernetes pod), keyed by what identifies it there. */
export interface DiscoveredWorker {
  /** Stable identity in the source, e.g. "namespace/pod-name". */
  readonly key: string;
  readonly spec: WorkerSpec;
}

/**
 * What a discovery source may do to serve's fleet. Kept this narrow so discovery knows nothing
 * of the Router, pools or the admin API, and so the same source can drive any registry.
 */
export interface WorkerFleet {
  /** The worker may take requests: registers it, or readmits it after a drain. */
  add(w: DiscoveredWorker): void;
  /** No new requests (e.g. the pod is not Ready); in-flight ones finish; it may be added back. */
  drain(key: string): void;
  /** Gone for good (the pod was deleted): drained, then its connections close once idle. */
  remove(key: string): void;
}
