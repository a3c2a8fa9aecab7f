import type { QueuedRequest } from '../types.js';

/** A queued request with the output length predicted when it was queued. */
export interface SloEntry {
  readonly entry: QueuedRequest;
  readonly predictedOut: number;
  /** The predictor had no data for this prompt size; `predictedOut` is the cold prediction. */
  readonly cold: boolean;
}

/** AIBrix sub-queue key: `[round(log2(predicted output)), round(log2(prompt))]`. */
export function subQueueKey(predictedOut: number, inputTokens: number): string {
  const b = (x: number): number => Math.round(Math.log2(Math.max(1, x)));
  return `${b(predictedOut)},${b(inputTokens)}`;
}

/**
 * AIBrix `SLOQueue` storage: FIFO sub-queues keyed by (log2 output, log2 input) bucket. Only the
 * head of each sub-queue competes for the next dispatch (requests of one shape keep their order).
 */
export class SloSubQueues {
  private readonly subs = new Map<string, Map<string, SloEntry>>();
  private readonly keyOf = new Map<string, string>();

  get size(): number {
    return this.keyOf.size;
  }

  add(e: SloEntry): void {
    const id = e.entry.req.id;
    const key = subQueueKey(e.predictedOut, e.entry.req.inputTokens);
    let q = this.subs.get(key);
    if (!q) {
      q = new Map();
      this.subs.set(key, q);
    }
    q.set(id, e);
    this.keyOf.set(id, key);
  }

  get(id: string): SloEntry | undefined {
    const key = this.keyOf.get(id);
    return key === undefined ? undefined : this.subs.get(key)?.get(id);
  }

  remove(id: string): void {
    const key = this.keyOf.get(id);
    if (key === undefined) return;
    this.keyOf.delete(id);
    const q = this.subs.get(key);
    if (!q) return;
    q.delete(id);
    if (q.size === 0) this.subs.delete(key);
  }

  /**
   * Per sub-queue, its oldest request that `within` holds (one priority class of the Router's
   * queue): requests of one shape keep their order inside a class.
   */
  headsIn(within: ReadonlyMap<string, unknown>): SloEntry[] {
    const out: SloEntry[] = [];
    for (const q of this.subs.values()) {
      for (const e of q.values()) {
        if (within.has(e.entry.req.id)) {
          out.push(e);
          break;
        }
      }
    }
    return out;
  }

  /** The head (oldest) request of every non-empty sub-queue. */
  heads(): SloEntry[] {
    const out: SloEntry[] = [];
    for (const q of this.subs.values()) out.push(q.values().next().value as SloEntry);
    return out;
  }
}
