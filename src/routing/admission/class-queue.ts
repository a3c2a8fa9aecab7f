import type { PullDecision, QueuedRequest, QueueLimits } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import type { PriorityConfig } from './config.js';

/** The router's question to a sub-queue: what of these requests goes next, if anything. */
export type TryQueue = (queue: ReadonlyMap<string, QueuedRequest>) => PullDecision | null;

/**
 * Priority classes over the Router's pull-mode queue (the Router keeps its own FIFO of every
 * waiting request for timeouts; this keeps one FIFO per class beside it). Every operation is
 * O(number of classes), and nothing is allocated per request beyond the map entry.
 *
 * - Dequeue `strict`: the highest non-empty class goes first; if its requests cannot be placed
 *   now, lower classes wait too (a request that fits never jumps a higher one that does not).
 *   With `agingS`, a class's head ranks one class higher per `agingS` it has waited, so a low
 *   class is not starved forever.
 * - Dequeue `weighted`: start-time fair queueing over the classes by `weight` (each dispatch of
 *   class c advances c's virtual time by 1/weight; the non-empty class with the least goes
 *   first); work-conserving, so a class that cannot be placed lets the next one try.
 * - Reserved capacity: with `maxInFlight`, class c dispatches only while the fleet has fewer than
 *   maxInFlight × (1 − reserved shares of the classes above c) requests in flight; the top class
 *   may use all of it.
 * - Dequeue `fifo`: the Router's one queue in arrival order (classes only label requests; the
 *   baseline the others are measured against).
 * - Pre-emption (`victim`): when the queue is full, an arrival may displace the oldest waiter of
 *   the lowest class below its own. Waiting requests have sent no byte, so this is always
 *   "before the first byte"; requests already on a worker are never pre-empted.
 */
export class ClassQueue {
  private readonly rankOf = new Map<string, number>();
  private readonly queues: Map<string, QueuedRequest>[];
  private readonly inFlight: number[];
  private inFlightTotal = 0;
  /** In-flight bound per class (reserved shares of the classes above taken out). */
  private readonly limit: number[];
  private readonly weight: number[];
  private readonly vtime: number[];
  private vnow = 0;
  private readonly order: number[];
  private readonly defaultRank: number;
  /** Dispatches and pre-emptions by class (rank), for summaries. */
  readonly dispatched: number[];
  readonly preempted: number[];

  constructor(readonly config: PriorityConfig) {
    const n = config.classes.length;
    config.classes.forEach((c, i) => this.rankOf.set(c.name, i));
    this.defaultRank = this.rankOf.get(config.defaultClass) ?? n - 1;
    this.queues = config.classes.map(() => new Map<string, QueuedRequest>());
    this.inFlight = new Array<number>(n).fill(0);
    let above = 0;
    this.limit = config.classes.map((c) => {
      const l = config.maxInFlight === Infinity || config.dequeue === 'fifo' ? Infinity : Math.max(1, Math.floor(config.maxInFlight * (1 - above) + 1e-9));
      above += c.reserved;
      return l;
    });
    this.weight = config.classes.map((c) => c.weight);
    this.vtime = new Array<number>(n).fill(0);
    this.order = new Array<number>(n).fill(0);
    this.dispatched = new Array<number>(n).fill(0);
    this.preempted = new Array<number>(n).fill(0);
  }

  /** The router queues requests itself (a fleet-wide in-flight bound) even for a push policy. */
  get holdsQueue(): boolean {
    return this.config.maxInFlight !== Infinity;
  }

  /** Queue bounds the config sets (absent fields: the policy's). */
  get limits(): Partial<QueueLimits> {
    const l: { maxLength?: number; timeoutS?: number } = {};
    if (this.config.queueMax !== undefined) l.maxLength = this.config.queueMax;
    if (this.config.queueTimeoutS !== undefined) l.timeoutS = this.config.queueTimeoutS;
    return l;
  }

  get classNames(): string[] {
    return this.config.classes.map((c) => c.name);
  }

  /** Rank (0 = highest) of a request's class; an unnamed or unknown class is the default one. */
  rank(req: RouteRequest): number {
    const p = req.priority;
    return p === undefined ? this.defaultRank : (this.rankOf.get(p) ?? this.defaultRank);
  }

  queued(rank: number): number {
    return this.queues[rank].size;
  }

  inFlightOf(rank: number): number {
    return this.inFlight[rank];
  }

  enqueued(e: QueuedRequest): void {
    const c = this.rank(e.req);
    const q = this.queues[c];
    // A class that was idle starts at the current virtual time: no credit banked while away.
    if (q.size === 0 && this.vtime[c] < this.vnow) this.vtime[c] = this.vnow;
    q.set(e.req.id, e);
  }

  dequeued(e: QueuedRequest): void {
    this.queues[this.rank(e.req)].delete(e.req.id);
  }

  /** A request went to a worker (counts against the in-flight bounds until `released`). */
  placed(req: RouteRequest): void {
    const c = this.rank(req);
    this.inFlight[c]++;
    this.inFlightTotal++;
    this.dispatched[c]++;
    this.vnow = this.vtime[c];
    this.vtime[c] += 1 / this.weight[c];
  }

  released(req: RouteRequest): void {
    const c = this.rank(req);
    this.inFlight[c]--;
    this.inFlightTotal--;
  }

  private effectiveRank(c: number, nowS: number): number {
    const aging = this.config.agingS;
    if (aging === Infinity || c === 0) return c;
    const head = this.queues[c].values().next().value as QueuedRequest;
    return Math.max(0, c - Math.floor((nowS - head.enqueuedS) / aging));
  }

  /** Whether class `a` is offered the next dispatch before class `b` (both non-empty). */
  private before(a: number, b: number, nowS: number): boolean {
    if (this.config.dequeue === 'weighted') return this.vtime[a] < this.vtime[b] || (this.vtime[a] === this.vtime[b] && a < b);
    const ea = this.effectiveRank(a, nowS);
    const eb = this.effectiveRank(b, nowS);
    if (ea !== eb) return ea < eb;
    // Aged into the same rank: the one waiting longer goes first.
    const ta = (this.queues[a].values().next().value as QueuedRequest).enqueuedS;
    const tb = (this.queues[b].values().next().value as QueuedRequest).enqueuedS;
    return ta < tb || (ta === tb && a < b);
  }

  /** Non-empty classes in the order they are offered the next dispatch; returns how many. */
  private sortClasses(nowS: number): number {
    const o = this.order;
    let n = 0;
    for (let c = 0; c < this.queues.length; c++) {
      if (this.queues[c].size === 0) continue;
      // Insertion sort: a handful of classes.
      let i = n++;
      while (i > 0 && !this.before(o[i - 1], c, nowS)) {
        o[i] = o[i - 1];
        i--;
      }
      o[i] = c;
    }
    return n;
  }

  /** The next dispatch (or rejection) from the class sub-queues; null when nothing can go now. */
  decide(nowS: number, all: ReadonlyMap<string, QueuedRequest>, tryQueue: TryQueue): PullDecision | null {
    if (this.config.dequeue === 'fifo') return this.inFlightTotal < this.config.maxInFlight ? tryQueue(all) : null;
    const n = this.sortClasses(nowS);
    const strict = this.config.dequeue === 'strict';
    for (let i = 0; i < n; i++) {
      const c = this.order[i];
      if (this.inFlightTotal >= this.limit[c]) continue;
      const d = tryQueue(this.queues[c]);
      if (d) return d;
      if (strict) return null;
    }
    return null;
  }

  /** When the queue is full: the waiter `arriving` displaces (oldest of the lowest class below it), if any. */
  victim(arriving: QueuedRequest): QueuedRequest | undefined {
    if (!this.config.preempt || this.config.dequeue === 'fifo') return undefined;
    const ca = this.rank(arriving.req);
    for (let c = this.queues.length - 1; c > ca; c--) {
      const q = this.queues[c];
      if (q.size > 0) {
        this.preempted[c]++;
        return q.values().next().value;
      }
    }
    return undefined;
  }
}
