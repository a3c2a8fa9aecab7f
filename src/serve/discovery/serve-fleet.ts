import { HttpError } from '../openai-error.js';
import type { ServeWorker } from '../worker.js';
import type { WorkerSpec } from '../worker-spec.js';
import type { DiscoveredWorker, WorkerFleet } from './fleet.js';
import { sameSpec } from './pod-worker.js';

/** The two things discovery needs from serve's composition root. */
export interface FleetHost {
  /** Registers a worker (throws HttpError 409 when its URL or name is taken). */
  addWorker(spec: WorkerSpec): ServeWorker;
  /** Takes it out for good; in-flight requests finish, then its pool closes. */
  removeWorker(w: ServeWorker): void;
}

/**
 * Discovery's WorkerFleet over serve's workers. A drained worker stays registered (its index,
 * stats and policy state survive a readiness flap) and only stops taking new requests. A
 * discovered worker the operator deleted through the admin API is not re-added until its pod
 * is replaced.
 */
export class ServeFleet implements WorkerFleet {
  private readonly byKey = new Map<string, ServeWorker>();
  private readonly ours = new WeakSet<ServeWorker>();
  private readonly skipped = new Set<string>();

  constructor(
    private readonly host: FleetHost,
    private readonly log: (line: string) => void,
  ) {}

  add(d: DiscoveredWorker): void {
    const cur = this.byKey.get(d.key);
    if (cur && cur.removed && !this.ours.has(cur)) {
      if (!this.skipped.has(d.key)) this.log(`kubernetes discovery: ${d.key} was removed through the admin API; not re-adding it until the pod is replaced`);
      this.skipped.add(d.key);
      return;
    }
    if (cur && !cur.removed) {
      if (sameSpec(cur.spec, d.spec)) {
        cur.drained = false;
        cur.refresh();
        return;
      }
      this.retire(cur);
    }
    let w: ServeWorker;
    try {
      w = this.host.addWorker(d.spec);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.log(`kubernetes discovery: not adding ${d.key}: ${err.message}`);
      this.byKey.delete(d.key);
      return;
    }
    this.byKey.set(d.key, w);
  }

  drain(key: string): void {
    const w = this.byKey.get(key);
    if (!w || w.removed) return;
    w.drained = true;
    w.refresh();
  }

  remove(key: string): void {
    const w = this.byKey.get(key);
    this.byKey.delete(key);
    this.skipped.delete(key);
    if (w && !w.removed) this.retire(w);
  }

  private retire(w: ServeWorker): void {
    this.ours.add(w);
    this.host.removeWorker(w);
  }
}
