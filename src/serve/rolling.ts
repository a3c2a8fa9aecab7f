import { percentiles, type Percentiles } from '../util/stats.js';

/**
 * Samples of one latency over the last `windowS` seconds, for the live snapshot. A ring of
 * typed arrays (grown by doubling): an add is two stores, with nothing for the garbage collector
 * to trace or copy, however many thousand requests a second the window holds.
 */
export class RollingWindow {
  private t = new Float64Array(1024);
  private v = new Float64Array(1024);
  /** Index of the oldest sample, and how many there are. */
  private head = 0;
  private n = 0;

  constructor(private readonly windowS: number) {}

  add(nowS: number, value: number): void {
    this.trim(nowS);
    if (this.n === this.t.length) this.grow();
    const i = (this.head + this.n) % this.t.length;
    this.t[i] = nowS;
    this.v[i] = value;
    this.n++;
  }

  private grow(): void {
    const cap = this.t.length;
    const t = new Float64Array(cap * 2);
    const v = new Float64Array(cap * 2);
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) % cap;
      t[k] = this.t[i];
      v[k] = this.v[i];
    }
    this.t = t;
    this.v = v;
    this.head = 0;
  }

  private trim(nowS: number): void {
    const cap = this.t.length;
    while (this.n > 0 && this.t[this.head] < nowS - this.windowS) {
      this.head = (this.head + 1) % cap;
      this.n--;
    }
  }

  stats(nowS: number): (Percentiles & { count: number }) | undefined {
    this.trim(nowS);
    const n = this.n;
    if (n === 0) return undefined;
    const cap = this.t.length;
    const values = new Float64Array(n);
    for (let k = 0; k < n; k++) values[k] = this.v[(this.head + k) % cap];
    return { count: n, ...percentiles(values) };
  }
}
