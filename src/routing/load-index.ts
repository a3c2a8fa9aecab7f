import type { Rng } from '../util/rng.js';
import type { InFlightLookup, WorkerView } from './types.js';

/**
 * In-flight counts of one candidate list in a segment tree of (minimum, how many hold it), so the
 * least-loaded worker with a uniformly random tie-break is found in O(log n) instead of a scan of
 * the fleet. Exactly `argminRandomTie(list, inFlight, rng)`: the same single draw (only when
 * several tie) picks the same k-th tied worker in list order.
 */
export class InFlightIndex implements InFlightLookup {
  private readonly size: number;
  private readonly min: Float64Array;
  private readonly count: Int32Array;
  private readonly maxTree: Float64Array;
  private readonly pos = new Map<WorkerView, number>();

  constructor(readonly list: readonly WorkerView[]) {
    let size = 1;
    while (size < list.length) size <<= 1;
    this.size = size;
    this.min = new Float64Array(2 * size).fill(Infinity);
    this.count = new Int32Array(2 * size);
    this.maxTree = new Float64Array(2 * size).fill(-Infinity);
    list.forEach((w, i) => {
      this.pos.set(w, i);
      this.min[size + i] = w.inFlight;
      this.maxTree[size + i] = w.inFlight;
      this.count[size + i] = 1;
    });
    for (let n = size - 1; n >= 1; n--) this.pull(n);
  }

  private pull(n: number): void {
    const l = 2 * n;
    const r = l + 1;
    this.maxTree[n] = Math.max(this.maxTree[l], this.maxTree[r]);
    const a = this.min[l];
    const b = this.min[r];
    if (a < b) {
      this.min[n] = a;
      this.count[n] = this.count[l];
    } else if (b < a) {
      this.min[n] = b;
      this.count[n] = this.count[r];
    } else {
      this.min[n] = a;
      this.count[n] = a === Infinity ? 0 : this.count[l] + this.count[r];
    }
  }

  /** Re-reads one worker's count (after the router changed it); workers not in the list are ignored. */
  update(w: WorkerView): void {
    const p = this.pos.get(w);
    if (p === undefined) return;
    let n = this.size + p;
    this.min[n] = w.inFlight;
    this.maxTree[n] = w.inFlight;
    for (n >>= 1; n >= 1; n >>= 1) this.pull(n);
  }

  /** Fewest and most in flight over the list (`loadRange(list, inFlight)`). */
  range(): { min: number; max: number } {
    return { min: this.min[1], max: this.maxTree[1] };
  }

  argminRandomTie(rng: Rng): WorkerView {
    const best = this.min[1];
    const ties = this.count[1];
    let k = ties <= 1 ? 0 : rng.int(ties);
    let n = 1;
    while (n < this.size) {
      const l = 2 * n;
      const inLeft = this.min[l] === best ? this.count[l] : 0;
      if (k < inLeft) n = l;
      else {
        k -= inLeft;
        n = l + 1;
      }
    }
    return this.list[n - this.size];
  }
}
