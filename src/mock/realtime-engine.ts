import { Engine, type Sequence } from '../engine/engine.js';
import { stepCostFor } from '../profiles/step-cost-factory.js';
import type { Deployment } from '../profiles/types.js';
import type { Request } from '../workload/request.js';

/** What the driver tells the owner of one request, in engine seconds. */
export interface SequenceHandlers {
  /** Token number `index` (1-based) was produced by the step that ended at `t`. */
  token(index: number, t: number): void;
  /** The request left the engine (all tokens produced, or aborted). */
  finished(seq: Sequence, t: number): void;
}

interface Tracked {
  handlers: SequenceHandlers;
  emitted: number;
}

/**
 * Runs the simulator's `Engine` in real time: engine time = elapsed wall time × `speedup`.
 * The engine is built with one-step-at-a-time decoding, so every step boundary is a point where
 * each running sequence gains at most one token; a timer fires at the wall time of the next step
 * end and emits the tokens of every step that has ended by then. Step prices stay exact: a late
 * timer delays when tokens are written, never the engine's own clock.
 */
export class RealtimeEngine {
  readonly engine: Engine;
  private readonly tracked = new Map<Sequence, Tracked>();
  private readonly done: { seq: Sequence; t: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = NaN;
  private readonly wall0: number;
  private closed = false;

  constructor(
    deployment: Deployment,
    readonly speedup: number,
    /** Wall clock in seconds (injectable for tests). */
    private readonly wallNow: () => number = () => performance.now() / 1e3,
  ) {
    const cost = stepCostFor(deployment);
    this.engine = new Engine(deployment.engine, cost, {
      firstToken: () => undefined,
      finished: (seq, t) => this.done.push({ seq, t }),
    }, false);
    this.wall0 = wallNow();
  }

  /** Engine seconds since start. */
  now(): number {
    return (this.wallNow() - this.wall0) * this.speedup;
  }

  /** Queues a request now; its tokens and end are reported through `handlers`. */
  submit(req: Request, handlers: SequenceHandlers): Sequence {
    const now = this.catchUp();
    const seq = this.engine.add(req, now);
    this.tracked.set(seq, { handlers, emitted: 0 });
    this.flushDone();
    this.arm();
    return seq;
  }

  /** Drops a request whose client went away; no more callbacks for it. */
  abort(seq: Sequence): void {
    if (!this.tracked.delete(seq)) return;
    const now = this.catchUp();
    this.engine.abort(seq, now);
    this.flushDone();
    this.arm();
  }

  /** Brings the engine's state up to the current wall time (for `/metrics`). */
  sync(): number {
    const now = this.catchUp();
    this.arm();
    return now;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs every step that has ended by now and emits its tokens; returns engine now. */
  private catchUp(): number {
    const now = this.now();
    const e = this.engine;
    while (!Number.isNaN(e.nextEventTime) && e.nextEventTime <= now) {
      const t = e.nextEventTime;
      e.advance(t);
      this.emit(t);
    }
    // `add` must not start a step before the last one ended (a step may end after `now` only
    // when it is in flight, and then `add` waits for it).
    return now;
  }

  private emit(t: number): void {
    for (const [seq, tr] of this.tracked) {
      while (tr.emitted < seq.numOutput) {
        tr.emitted++;
        tr.handlers.token(tr.emitted, t);
      }
    }
    this.flushDone();
  }

  private flushDone(): void {
    for (const { seq, t } of this.done) {
      const tr = this.tracked.get(seq);
      if (!tr) continue;
      this.tracked.delete(seq);
      tr.handlers.finished(seq, t);
    }
    this.done.length = 0;
  }

  private arm(): void {
    if (this.closed) return;
    const next = this.engine.nextEventTime;
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (Number.isNaN(next)) return;
    const delayMs = Math.max(0, ((next - this.now()) / this.speedup) * 1e3);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = NaN;
      this.catchUp();
      this.arm();
    }, delayMs);
  }
}
