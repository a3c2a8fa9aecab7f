import type { ProfileTable, Signature } from './profile.js';

/** AIBrix `CappedLoadProvider.Cap()`: a worker is full when its normalised pending load reaches 1. */
export const WORKER_CAPACITY = 1.0;

/**
 * Little's law (AIBrix RFC #642, `PendingLoadProvider`): a cell sustains `tput · e2e` requests in
 * flight at its SLO-meeting rate, so one request consumes `1 / (tput · e2e)` of a worker, at most
 * all of it (AIBrix has no such floor).
 * Infinity when the cell met the SLO at no rate (AIBrix `ErrorSLOFailureRequest`); undefined when
 * the profile has no E2E table (no load model).
 */
export function consumption(t: ProfileTable, s: Signature): number | undefined {
  const e2e = t.e2e(s);
  if (e2e === undefined || !(e2e > 0)) return undefined;
  const tput = t.tput(s);
  // A cell that met the SLO at some rate met it with a request alone in flight: it holds at least
  // one. Below that, Little's law (a 1 req/s cell whose requests take 0.14 s "holds" 0.14) would
  // charge one request 7 workers, and a worker serving it would accept nothing else.
  return tput > 0 ? 1 / Math.max(1, tput * e2e) : Infinity;
}

/**
 * Per-worker utilisation (AIBrix `realtime_normalized_pendings`): raised by a request's consumption
 * when it is dispatched, lowered by the same amount when it completes.
 */
export class LoadTracker {
  private readonly util = new Map<number, { load: number; requests: number }>();
  private readonly placed = new Map<string, { worker: number; c: number }>();

  utilisation(worker: number): number {
    return this.util.get(worker)?.load ?? 0;
  }

  add(reqId: string, worker: number, c: number): void {
    if (this.placed.has(reqId)) throw new Error(`load tracker: request ${reqId} placed twice`);
    this.placed.set(reqId, { worker, c });
    const u = this.util.get(worker) ?? { load: 0, requests: 0 };
    u.load += c;
    u.requests++;
    this.util.set(worker, u);
  }

  remove(reqId: string): void {
    const p = this.placed.get(reqId);
    if (!p) return;
    this.placed.delete(reqId);
    const u = this.util.get(p.worker);
    if (!u) return;
    u.requests--;
    // An idle worker is exactly empty: summing and subtracting floats must not leave dust.
    u.load = u.requests === 0 ? 0 : u.load - p.c;
  }

  forgetWorker(worker: number): void {
    this.util.delete(worker);
    for (const [id, p] of this.placed) if (p.worker === worker) this.placed.delete(id);
  }
}
