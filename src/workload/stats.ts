import type { Request } from './request.js';
import { promptBlockHashes } from './block-hash.js';
import type { Percentiles } from '../util/stats.js';

/** Exact percentiles of integer values from their counts (numpy's linear interpolation). */
export class IntHistogram {
  private readonly counts = new Map<number, number>();
  n = 0;
  private sum = 0;

  add(v: number): void {
    this.counts.set(v, (this.counts.get(v) ?? 0) + 1);
    this.n++;
    this.sum += v;
  }

  percentiles(): Percentiles {
    if (this.n === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN };
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    const at = (q: number): number => {
      const k = (this.n - 1) * q;
      const lo = Math.floor(k);
      const a = this.rank(keys, lo);
      const b = lo + 1 < this.n ? this.rank(keys, lo + 1) : a;
      return a + (b - a) * (k - lo);
    };
    return { mean: this.sum / this.n, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  }

  /** The value at 0-based rank r of the sorted values. */
  private rank(keys: number[], r: number): number {
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k) as number;
      if (r < seen) return k;
    }
    return keys[keys.length - 1];
  }
}

/**
 * Block hashes seen so far, in a fixed 64 MiB table: exact (an unbounded prefix cache) until a
 * 4-slot bucket overflows, which takes millions of distinct blocks; after that a full bucket
 * forgets a resident block, like a very large cache evicting. Memory never grows with the trace.
 */
export class SeenBlocks {
  private readonly slots: Float64Array;
  private readonly buckets: number;
  private victim = 0;

  constructor(log2Slots = 23) {
    this.slots = new Float64Array(1 << log2Slots);
    this.buckets = (1 << log2Slots) >> 2;
  }

  /** True if `hash` was seen before; records it either way. */
  seen(hash: number): boolean {
    const h = hash === 0 ? 1 : hash;
    const base = ((h % this.buckets) | 0) * 4;
    const s = this.slots;
    for (let i = 0; i < 4; i++) {
      if (s[base + i] === h) return true;
      if (s[base + i] === 0) {
        s[base + i] = h;
        return false;
      }
    }
    s[base + (this.victim++ & 3)] = h;
    return false;
  }
}

export interface TraceStats {
  requests: number;
  duration_s: number;
  rate_rps: number;
  input_tokens: Percentiles;
  output_tokens: Percentiles;
  /**
   * Share of all prompt tokens that an unbounded prefix cache with `blockTokens`-token blocks would
   * serve: tokens of full blocks whose chained hash appeared in an earlier request. Requests
   * without prefix identity (token counts only) count as never reused.
   */
  prefix_reuse: number;
  sessions: number;
}

/** One pass over a request stream in bounded memory (histograms and a fixed block table). */
export async function traceStats(requests: AsyncIterable<Request>, blockTokens: number): Promise<TraceStats> {
  const input = new IntHistogram();
  const output = new IntHistogram();
  const blocks = new SeenBlocks();
  const sessions = new Set<string>();
  let first = NaN;
  let last = NaN;
  let promptTokens = 0;
  let reused = 0;
  for await (const r of requests) {
    if (Number.isNaN(first)) first = r.arrivalS;
    last = r.arrivalS;
    input.add(r.inputTokens);
    output.add(r.outputTokens);
    promptTokens += r.inputTokens;
    if (r.sessionId !== undefined && sessions.size < 1_000_000) sessions.add(r.sessionId);
    if (r.prefix) {
      for (const h of promptBlockHashes(r.prefix, r.inputTokens, blockTokens)) if (blocks.seen(h)) reused += blockTokens;
    }
  }
  const duration = input.n > 0 ? last - first : 0;
  return {
    requests: input.n,
    duration_s: duration,
    rate_rps: duration > 0 ? input.n / duration : 0,
    input_tokens: input.percentiles(),
    output_tokens: output.percentiles(),
    prefix_reuse: promptTokens > 0 ? reused / promptTokens : 0,
    sessions: sessions.size,
  };
}
