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
  /** Max per node, built at the first `range()` (least-request never asks) and kept from then on. */
  private maxTree: Float64Array | null = null;
  /** Leaf position of each list member by slot (`WorkerView.index`), -1 for slots not in the list. */
  private readonly pos: Int32Array;
  /**
   * Σ inFlight and Σ inFlight² over the list: sums of integers, exact in doubles whatever the
   * order, so equal to a scan's. A fractional count (a garbled shared-state value) makes them
   * order-dependent: `fractional` counts such leaves, the sums are then not offered, and they are
   * summed afresh (`stale`) once every count is whole again.
   */
  private sum = 0;
  private squares = 0;
  private fractional = 0;
  private stale = false;

  constructor(readonly list: readonly WorkerView[]) {
    let size = 1;
    while (size < list.length) size <<= 1;
    this.size = size;
    this.min = new Float64Array(2 * size).fill(Infinity);
    this.count = new Int32Array(2 * size);
    let slots = 0;
    for (const w of list) slots = Math.max(slots, w.index + 1);
    this.pos = new Int32Array(slots).fill(-1);
    list.forEach((w, i) => {
      this.pos[w.index] = i;
      this.min[size + i] = w.inFlight;
      this.count[size + i] = 1;
      this.sum += w.inFlight;
      this.squares += w.inFlight * w.inFlight;
      if (!Number.isInteger(w.inFlight)) this.fractional++;
    });
    this.stale = this.fractional > 0;
    for (let n = size - 1; n >= 1; n--) this.pull(n);
  }

  /** Recomputes node `n`'s minimum and its count from its children; whether they changed (if not, no ancestor's do). */
  private pull(n: number): boolean {
    const l = 2 * n;
    const r = l + 1;
    const a = this.min[l];
    const b = this.min[r];
    let lo: number;
    let count: number;
    if (a < b) {
      lo = a;
      count = this.count[l];
    } else if (b < a) {
      lo = b;
      count = this.count[r];
    } else {
      lo = a;
      count = a === Infinity ? 0 : this.count[l] + this.count[r];
    }
    if (lo === this.min[n] && count === this.count[n]) return false;
    this.min[n] = lo;
    this.count[n] = count;
    return true;
  }

  /** The max tree from the leaves (their values are the minimum tree's leaves). */
  private buildMax(): Float64Array {
    const size = this.size;
    const max = new Float64Array(2 * size).fill(-Infinity);
    for (let i = 0; i < this.list.length; i++) max[size + i] = this.min[size + i];
    for (let n = size - 1; n >= 1; n--) max[n] = Math.max(max[2 * n], max[2 * n + 1]);
    return max;
  }

  /** Re-reads one worker's count (after the router changed it); workers not in the list are ignored. */
  update(w: WorkerView): void {
    const p = w.index < this.pos.length ? this.pos[w.index] : -1;
    if (p < 0 || this.list[p] !== w) return;
    let n = this.size + p;
    const old = this.min[n];
    const now = w.inFlight;
    if (old === now) return;
    if (Number.isInteger(old) && Number.isInteger(now)) {
      this.sum += now - old;
      this.squares += now * now - old * old;
    } else {
      this.stale = true;
      if (!Number.isInteger(old)) this.fractional--;
      if (!Number.isInteger(now)) this.fractional++;
    }
    this.min[n] = now;
    const max = this.maxTree;
    if (max !== null) {
      max[n] = now;
      for (let m = n >> 1; m >= 1; m >>= 1) {
        const hi = Math.max(max[2 * m], max[2 * m + 1]);
        if (hi === max[m]) break;
        max[m] = hi;
      }
    }
    // Each ancestor's (minimum, count) from its own and the leaf's old and new value: one node read
    // per level instead of both children, and the children only when the leaf held a minimum alone.
    for (n >>= 1; n >= 1; n >>= 1) {
      const lo = this.min[n];
      if (now < lo) {
        this.min[n] = now;
        this.count[n] = 1;
      } else if (old === lo) {
        // `now` is above the minimum the leaf was one of (old < lo cannot be: lo is the subtree's minimum).
        const c = this.count[n];
        if (c > 1) this.count[n] = c - 1;
        else this.pull(n);
      } else if (now === lo) this.count[n]++;
      else return; // both above this minimum: no ancestor changes either
    }
  }

  /** Σ inFlight over the list; undefined when a count is fractional (then only a scan's order gives the scan's sum). */
  total(): number | undefined {
    if (this.fractional > 0) return undefined;
    if (this.stale) this.resum();
    return this.sum;
  }

  /** Σ inFlight² over the list, as `total`. */
  sumSquares(): number | undefined {
    if (this.fractional > 0) return undefined;
    if (this.stale) this.resum();
    return this.squares;
  }

  private resum(): void {
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < this.list.length; i++) {
      const v = this.min[this.size + i];
      sum += v;
      squares += v * v;
    }
    this.sum = sum;
    this.squares = squares;
    this.stale = false;
  }

  /** Fewest and most in flight over the list (`loadRange(list, inFlight)`). */
  range(): { min: number; max: number } {
    this.maxTree ??= this.buildMax();
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
