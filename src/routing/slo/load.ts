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

/** One dispatched request as the tracker holds it. */
interface Held {
  worker: number;
  c: number;
  /** Dispatch time and the cell's mean E2E (seconds); absent = held at `c` until completion. */
  sinceS?: number;
  e2eS?: number;
}

/**
 * Per-worker utilisation (AIBrix `realtime_normalized_pendings`): raised by a request's consumption
 * when it is dispatched, lowered by the same amount when it completes.
 *
 * Unlike AIBrix, a request that outlives its cell's E2E is re-estimated from the time it has run:
 * it was predicted too short (the histogram predictor draws outputs at random; cold predictions are
 * 1 token), and a request that has run t seconds belongs to a row whose E2E is at least t. Across
 * rows of a column the SLO-meeting rate changes far less than E2E, so its Little's-law consumption
 * `1/(tput·e2e)` is re-read as `c·e2e/t`. Without this, a long answer predicted as 4 tokens holds
 * the near-whole-worker charge of a 4-token request for its whole minute-long decode, and the pull
 * backends queue requests behind load that is not there.
 */
export class LoadTracker {
  private readonly byWorker = new Map<number, Map<string, Held>>();
  private readonly placed = new Map<string, Held>();

  /** Normalised load of `worker`; at `nowS`, requests past their cell's E2E count re-estimated. */
  utilisation(worker: number, nowS?: number): number {
    const held = this.byWorker.get(worker);
    if (!held) return 0;
    let u = 0;
    for (const h of held.values()) {
      const t = nowS !== undefined && h.sinceS !== undefined && h.e2eS !== undefined ? nowS - h.sinceS : 0;
      u += h.e2eS !== undefined && t > h.e2eS ? (h.c * h.e2eS) / t : h.c;
    }
    return u;
  }

  add(reqId: string, worker: number, c: number, sinceS?: number, e2eS?: number): void {
    if (this.placed.has(reqId)) throw new Error(`load tracker: request ${reqId} placed twice`);
    const h: Held = { worker, c };
    if (sinceS !== undefined && e2eS !== undefined && e2eS > 0) {
      h.sinceS = sinceS;
      h.e2eS = e2eS;
    }
    this.placed.set(reqId, h);
    let m = this.byWorker.get(worker);
    if (!m) {
      m = new Map();
      this.byWorker.set(worker, m);
    }
    m.set(reqId, h);
  }

  remove(reqId: string): void {
    const p = this.placed.get(reqId);
    if (!p) return;
    this.placed.delete(reqId);
    const m = this.byWorker.get(p.worker);
    m?.delete(reqId);
    // An idle worker is exactly empty (the sum is recomputed, so no float dust either).
    if (m?.size === 0) this.byWorker.delete(p.worker);
  }

  forgetWorker(worker: number): void {
    const m = this.byWorker.get(worker);
    if (!m) return;
    for (const id of m.keys()) this.placed.delete(id);
    this.byWorker.delete(worker);
  }
}
