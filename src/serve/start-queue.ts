/**
 * Work deferred to the next microtask, in arrival order, with one microtask per batch: a request's
 * dispatch cannot run where the Router decided it (it may be inside onComplete of another
 * request), and a closure per request (plus the async-context binding queueMicrotask adds) is
 * garbage for nothing. Items queued while a batch runs join that batch.
 */
export class StartQueue<A, B> {
  private readonly as: A[] = [];
  private readonly bs: B[] = [];
  private queued = false;
  private readonly drain = (): void => {
    const as = this.as;
    const bs = this.bs;
    try {
      for (let i = 0; i < as.length; i++) this.run(as[i], bs[i]);
    } finally {
      as.length = 0;
      bs.length = 0;
      this.queued = false;
    }
  };

  constructor(private readonly run: (a: A, b: B) => void) {}

  push(a: A, b: B): void {
    this.as.push(a);
    this.bs.push(b);
    if (!this.queued) {
      this.queued = true;
      queueMicrotask(this.drain);
    }
  }
}
