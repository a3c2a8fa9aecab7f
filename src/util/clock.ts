/** Time in seconds. The simulator injects a virtual clock; serve injects the wall clock. */
export interface Clock {
  now(): number;
}

/** A clock the simulator moves forward by hand. */
export class VirtualClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
}
