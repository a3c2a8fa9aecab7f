/**
 * A mergeable quantile sketch with bounded relative error (DDSketch's log-bucket scheme): values
 * fall in buckets [γ^(i−1), γ^i) with γ = (1+α)/(1−α), so any quantile it reports is within a
 * factor (1 ± α) of a value of the right rank. Memory is one counter per occupied bucket —
 * about 2,800 for 1 µs..10^7 ms at α = 0.5 % — whatever the number of values. Zero and negative
 * values (a 0 ms queue) are counted apart.
 */
export class QuantileSketch {
  private readonly gamma: number;
  private readonly logGamma: number;
  private readonly counts = new Map<number, number>();
  private zeros = 0;
  count = 0;
  sum = 0;
  sumSquares = 0;

  constructor(readonly relativeAccuracy = 0.005) {
    this.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.logGamma = Math.log(this.gamma);
  }

  add(v: number): void {
    this.count++;
    this.sum += v;
    this.sumSquares += v * v;
    if (!(v > 0)) {
      this.zeros++;
      return;
    }
    const i = Math.ceil(Math.log(v) / this.logGamma);
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
  }

  /** Adds another sketch's values (same accuracy): sketches of shards merge into the sketch of all. */
  merge(o: QuantileSketch): void {
    if (o.relativeAccuracy !== this.relativeAccuracy) throw new Error('QuantileSketch.merge: different accuracies');
    this.count += o.count;
    this.sum += o.sum;
    this.sumSquares += o.sumSquares;
    this.zeros += o.zeros;
    for (const [i, c] of o.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
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
    const keys = [...this.counts.keys()].sort((x, y) => x - y);
    for (const i of keys) {
      seen += this.counts.get(i) as number;
      // The bucket's point of least relative error: 2γ^i / (γ + 1).
      if (rank < seen) return (2 * this.gamma ** i) / (this.gamma + 1);
    }
    return (2 * this.gamma ** keys[keys.length - 1]) / (this.gamma + 1);
  }
}
