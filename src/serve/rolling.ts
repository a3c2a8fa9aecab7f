import { percentiles, type Percentiles } from '../util/stats.js';

/** Samples of one latency over the last `windowS` seconds, for the live snapshot. */
export class RollingWindow {
  private t: number[] = [];
  private v: number[] = [];
  private head = 0;

  constructor(private readonly windowS: number) {}

  add(nowS: number, value: number): void {
    this.t.push(nowS);
    this.v.push(value);
    this.trim(nowS);
  }

  private trim(nowS: number): void {
    while (this.head < this.t.length && this.t[this.head] < nowS - this.windowS) this.head++;
    if (this.head > 4096 && this.head * 2 > this.t.length) {
      this.t = this.t.slice(this.head);
      this.v = this.v.slice(this.head);
      this.head = 0;
    }
  }

  stats(nowS: number): (Percentiles & { count: number }) | undefined {
    this.trim(nowS);
    const n = this.v.length - this.head;
    if (n === 0) return undefined;
    return { count: n, ...percentiles(this.v.slice(this.head)) };
  }
}
