import type { Rng } from '../../util/rng.js';
import type { RouteRequest } from '../../workload/request.js';
import type { OutputPredictor } from './predictor.js';

/** AIBrix `SimpleOutputPredictor` constants (pkg/cache/output_predictor.go). */
export const HISTOGRAM_MAX_TOKENS = 1024 * 1024;
export const HISTOGRAM_WINDOW_S = 240;
export const HISTOGRAM_SLOT_S = 10;

/** round(log2(tokens)), capped to the histogram's buckets. */
export function log2Bucket(tokens: number, buckets: number): number {
  return Math.min(buckets - 1, Math.max(0, Math.round(Math.log2(Math.max(1, tokens)))));
}

/**
 * AIBrix's output-length predictor: a 2-D histogram `[input bucket][output bucket]`
 * (bucket = round(log2 tokens), ceil(log2(1M+1)) = 21 buckets) over a moving 240 s window kept in
 * 10 s slots, fed by every completion. `predict` draws an output bucket with probability
 * proportional to its count in the prompt's input-bucket row and returns 2^bucket; an empty row
 * is reported as cold (undefined), and the caller applies its cold prediction (AIBrix
 * `OptimisticColdPrediction`: 1 token).
 */
export class HistogramPredictor implements OutputPredictor {
  readonly name = 'histogram';
  readonly buckets = Math.ceil(Math.log2(HISTOGRAM_MAX_TOKENS + 1));
  private readonly slots: Float64Array[];
  private readonly total: Float64Array;
  /** Absolute slot number each ring entry holds (floor(now / slot)); -1 = empty. */
  private readonly slotEpoch: number[];

  constructor(
    private readonly windowS = HISTOGRAM_WINDOW_S,
    private readonly slotS = HISTOGRAM_SLOT_S,
  ) {
    const n = Math.max(1, Math.round(windowS / slotS));
    const cells = this.buckets * this.buckets;
    this.slots = Array.from({ length: n }, () => new Float64Array(cells));
    this.total = new Float64Array(cells);
    this.slotEpoch = new Array<number>(n).fill(-1);
  }

  /** Drops slots that fell out of the window and returns the ring slot for `nowS`. */
  private rotate(nowS: number): number {
    const epoch = Math.floor(nowS / this.slotS);
    const n = this.slots.length;
    for (let i = 0; i < n; i++) {
      const e = this.slotEpoch[i];
      if (e >= 0 && e <= epoch - n) this.clear(i);
    }
    const at = ((epoch % n) + n) % n;
    if (this.slotEpoch[at] !== epoch) {
      this.clear(at);
      this.slotEpoch[at] = epoch;
    }
    return at;
  }

  private clear(i: number): void {
    const s = this.slots[i];
    for (let c = 0; c < s.length; c++) {
      if (s[c] !== 0) {
        this.total[c] -= s[c];
        s[c] = 0;
      }
    }
    this.slotEpoch[i] = -1;
  }

  observe(inputTokens: number, outputTokens: number, nowS: number): void {
    const at = this.rotate(nowS);
    const c = log2Bucket(inputTokens, this.buckets) * this.buckets + log2Bucket(outputTokens, this.buckets);
    this.slots[at][c]++;
    this.total[c]++;
  }

  /** Counts of the output buckets for a prompt length (the row `predict` samples from). */
  row(inputTokens: number, nowS: number): Float64Array {
    this.rotate(nowS);
    const r = log2Bucket(inputTokens, this.buckets) * this.buckets;
    return this.total.subarray(r, r + this.buckets);
  }

  predict(req: RouteRequest, nowS: number, rng: Rng): number | undefined {
    const row = this.row(req.inputTokens, nowS);
    let sum = 0;
    for (let b = 0; b < row.length; b++) sum += row[b];
    if (sum <= 0) return undefined;
    let x = rng.next() * sum;
    for (let b = 0; b < row.length; b++) {
      x -= row[b];
      if (x < 0 && row[b] > 0) return 2 ** b;
    }
    for (let b = row.length - 1; b >= 0; b--) if (row[b] > 0) return 2 ** b;
    return undefined;
  }
}
