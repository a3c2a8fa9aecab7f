import { sortFloat64 } from './radix-sort.js';

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Percentile by linear interpolation between closest ranks (numpy's default), on a sorted copy. */
export function percentiles(values: ArrayLike<number>, n = values.length): Percentiles {
  if (n === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN };
  // A plain copy loop: Float64Array.from with a map callback costs more than the sort itself.
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = values[i];
  // The mean sums the sorted values (its rounding is part of the report): the sort stays.
  sortFloat64(sorted);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { mean: sum / n, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99) };
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const k = (n - 1) * q;
  const f = Math.floor(k);
  const c = Math.min(f + 1, n - 1);
  return sorted[f] + (sorted[c] - sorted[f]) * (k - f);
}

/** A growable Float64 column: per-request metrics for a million requests without a million objects. */
export class Column {
  private data: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }
  push(v: number): number {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length] = v;
    return this.length++;
  }
  get(i: number): number {
    return this.data[i];
  }
  set(i: number, v: number): void {
    this.data[i] = v;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}
