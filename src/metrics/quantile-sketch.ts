/**
 * A mergeable quantile sketch with bounded relative error (DDSketch's log-bucket scheme): values
 * fall in buckets [γ^(i−1), γ^i) with γ = (1+α)/(1−α), so any quantile it reports is within a
 * factor (1 ± α) of a value of the right rank. Memory is one counter per occupied bucket —
 * about 2,800 for 1 µs..10^7 ms at α = 0.5 % — whatever the number of values. Zero and negative
 * values (a 0 ms queue) are counted apart.
 */
/**
 * Bucket i's range (γ^(i−1), γ^i] shrunk by a relative 1e-9, for buckets −2^13..2^13 (about 1e-36
 * to 1e36 at α = 0.5 %), filled as buckets are first seen and shared by the sketches of one γ.
 * Any value strictly inside maps to bucket i by the logarithm too: its rounding moves
 * log(v)/log(γ) by ~1e-12, against a margin of 1e-9 / log(γ) ≥ 1e-7.
 */
class BucketBounds {
  static readonly first = -(2 ** 13);
  readonly lo = new Float64Array(2 ** 14).fill(NaN);
  readonly hi = new Float64Array(2 ** 14);
  constructor(readonly logGamma: number) {}

  static of(logGamma: number): BucketBounds {
    let b = boundsByGamma.get(logGamma);
    if (!b) boundsByGamma.set(logGamma, (b = new BucketBounds(logGamma)));
    return b;
  }
}
const boundsByGamma = new Map<number, BucketBounds>();

export class QuantileSketch {
  private readonly gamma: number;
  private readonly logGamma: number;
  /** counts[j] is bucket `j + offset`'s count; grown at either end as values arrive. */
  private counts = new Float64Array(0);
  private offset = 0;
  private zeros = 0;
  count = 0;
  sum = 0;
  sumSquares = 0;
  /** The bucket of the latest value, its slot in `counts`, and an interval strictly inside it (BucketBounds). */
  private lastIndex = NaN;
  private lastSlot = NaN;
  private lastLo = Infinity;
  private lastHi = -Infinity;
  private readonly bounds: BucketBounds;

  constructor(readonly relativeAccuracy = 0.005) {
    this.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.logGamma = Math.log(this.gamma);
    this.bounds = BucketBounds.of(this.logGamma);
  }

  /** Adds `n` copies of `v` (a decode step's length is one gap for each sequence in its batch). */
  add(v: number, n = 1): void {
    this.count += n;
    this.sum += v * n;
    this.sumSquares += v * v * n;
    // Runs in one bucket are common (decode steps of similar batches: tens of gaps per request);
    // inside the cached interval the bucket and its slot are known without a logarithm or a
    // bounds check. The interval is positive whenever it is set, so this also excludes zeros.
    if (v > this.lastLo && v < this.lastHi) this.counts[this.lastSlot] += n;
    else this.addUncached(v, n);
  }

  private addUncached(v: number, n: number): void {
    if (!(v > 0)) {
      this.zeros += n;
      return;
    }
    const i = Math.ceil(Math.log(v) / this.logGamma);
    this.lastIndex = i;
    this.cacheBucket(i);
    this.bump(i, n);
    this.lastSlot = i - this.offset;
  }

  private cacheBucket(i: number): void {
    const b = this.bounds;
    const k = i - BucketBounds.first;
    if (k < 0 || k >= b.lo.length) {
      // Far outside any latency in ms: no interval, every such value takes the logarithm.
      this.lastLo = Infinity;
      this.lastHi = -Infinity;
      return;
    }
    if (Number.isNaN(b.lo[k])) {
      b.lo[k] = Math.exp((i - 1) * this.logGamma) * (1 + 1e-9);
      b.hi[k] = Math.exp(i * this.logGamma) * (1 - 1e-9);
    }
    this.lastLo = b.lo[k];
    this.lastHi = b.hi[k];
  }

  private bump(i: number, n: number): void {
    let j = i - this.offset;
    if (j < 0 || j >= this.counts.length) {
      this.cover(i);
      j = i - this.offset;
    }
    this.counts[j] += n;
  }

  /** Grows the bucket array to include bucket `i`, with slack so growth is rare. */
  private cover(i: number): void {
    const old = this.counts;
    if (old.length === 0) {
      this.counts = new Float64Array(64);
      this.offset = i - 32;
      return;
    }
    const lo = Math.min(this.offset, i - 32);
    const hi = Math.max(this.offset + old.length, i + 33);
    const grown = new Float64Array(hi - lo);
    grown.set(old, this.offset - lo);
    this.counts = grown;
    this.offset = lo;
    // The cached bucket moved with the array (a merge may grow it between two adds).
    this.lastSlot = this.lastIndex - lo;
  }

  /** Adds another sketch's values (same accuracy): sketches of shards merge into the sketch of all. */
  merge(o: QuantileSketch): void {
    if (o.relativeAccuracy !== this.relativeAccuracy) throw new Error('QuantileSketch.merge: different accuracies');
    this.count += o.count;
    this.sum += o.sum;
    this.sumSquares += o.sumSquares;
    this.zeros += o.zeros;
    for (let j = 0; j < o.counts.length; j++) if (o.counts[j] > 0) this.bump(j + o.offset, o.counts[j]);
  }

  /** The q-quantile (0..1) by the same closest-rank interpolation as `quantile` in util/stats, on bucket midpoints. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const k = (this.count - 1) * q;
    const lo = Math.floor(k);
    const hi = Math.min(lo + 1, this.count - 1);
    const a = this.valueAtRank(lo);
    const b = hi === lo ? a : this.valueAtRank(hi);
    return a + (b - a) * (k - lo);
  }

  private valueAtRank(rank: number): number {
    if (rank < this.zeros) return 0;
    let seen = this.zeros;
    let last = 0;
    for (let j = 0; j < this.counts.length; j++) {
      if (this.counts[j] === 0) continue;
      last = j;
      seen += this.counts[j];
      // The bucket's point of least relative error: 2γ^i / (γ + 1).
      if (rank < seen) return (2 * this.gamma ** (j + this.offset)) / (this.gamma + 1);
    }
    return (2 * this.gamma ** (last + this.offset)) / (this.gamma + 1);
  }
}
