import type { Clock } from '../util/clock.js';

/** The wall clock serve gives the Router: monotonic seconds since the server started. */
export class WallClock implements Clock {
  private readonly t0 = performance.now();
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }
}
