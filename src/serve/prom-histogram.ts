import type { Metric, Registry } from 'prom-client';

/** One value line of a metric as prom-client's Registry formats it. */
interface ValueLine {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A label-less Prometheus histogram for the per-request path: an observe is a bucket search and
 * three stores into a typed array, where prom-client's Histogram builds a label object, hashes it
 * and looks it up on every call. It registers with a prom-client Registry and produces the same
 * values (same order, same cumulative buckets, the sum added in observation order), so
 * `/metrics` reads exactly as it did with prom-client's Histogram.
 */
export class LeanHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: string[] = [];
  /** Per bucket (not cumulative); the last slot counts what is above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  /** prom-client lists zero buckets until the first reset, then nothing until the next observation. */
  private listed = true;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
    // The Registry only reads name/help/type/aggregator and calls get() and reset().
    registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
    this.listed = true;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.listed = false;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ValueLine[] }> {
    const bucket = `${this.name}_bucket`;
    const values: ValueLine[] = [];
    if (!this.listed) return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i];
      values.push({ labels: { le: this.bounds[i] }, value: acc, metricName: bucket });
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: bucket });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
