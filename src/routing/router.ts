import type { Clock } from '../util/clock.js';
import type { Rng } from '../util/rng.js';
import type { Request } from '../workload/request.js';
import type { Outcome, Policy, PolicyContext, ScrapedMetrics, WorkerView } from './types.js';

/** Where the router's decisions go: the simulator turns them into events, serve into HTTP calls. */
export interface RouterSink {
  dispatch(req: Request, worker: WorkerView): void;
  reject(req: Request, reason: string): void;
}

export interface RouterOptions {
  policy: Policy;
  workers: WorkerView[];
  clock: Clock;
  rng: Rng;
  sink: RouterSink;
}

/**
 * The routing core shared by `simulate` and `serve`: an event-driven state machine with no I/O,
 * no wall clock and no unseeded randomness. Push mode: every submitted request is routed at once.
 * (Pull mode and the SLO queue plug in here: they hold requests and re-try on completions.)
 */
export class Router {
  readonly workers: WorkerView[];
  private readonly policy: Policy;
  private readonly ctx: PolicyContext;
  private readonly sink: RouterSink;
  private readonly placed = new Map<string, WorkerView>();
  readonly branches = new Map<string, number>();

  constructor(o: RouterOptions) {
    this.workers = o.workers;
    this.policy = o.policy;
    this.ctx = { clock: o.clock, rng: o.rng };
    this.sink = o.sink;
  }

  get policyName(): string {
    return this.policy.name;
  }

  /** Routes one request now (push mode). */
  submit(req: Request): void {
    const candidates = this.workers.every((w) => w.healthy) ? this.workers : this.workers.filter((w) => w.healthy);
    if (candidates.length === 0) {
      this.sink.reject(req, 'no healthy worker');
      return;
    }
    const d = this.policy.pick(req, candidates, this.ctx);
    if (!d) {
      this.sink.reject(req, `policy ${this.policy.name} found no eligible worker`);
      return;
    }
    const w = this.workers[d.worker];
    if (!w || !w.healthy) throw new Error(`policy ${this.policy.name} picked worker ${d.worker}, which is not a candidate`);
    if (d.branch) this.branches.set(d.branch, (this.branches.get(d.branch) ?? 0) + 1);
    w.inFlight++;
    w.inFlightPromptTokens += req.inputTokens;
    w.inPrefill++;
    this.placed.set(req.id, w);
    this.policy.onDispatch?.(req, w, this.ctx);
    this.sink.dispatch(req, w);
  }

  onFirstToken(req: Request): void {
    const w = this.placed.get(req.id);
    if (!w) return;
    w.inPrefill--;
    this.policy.onFirstToken?.(req, w, this.ctx);
  }

  /** The request left its worker (finished, failed or was refused there); its load is released. */
  onComplete(req: Request, outcome: Outcome, firstTokenSeen: boolean): void {
    const w = this.placed.get(req.id);
    if (!w) return;
    this.placed.delete(req.id);
    w.inFlight--;
    w.inFlightPromptTokens -= req.inputTokens;
    if (!firstTokenSeen) w.inPrefill--;
    this.policy.onComplete?.(req, w, outcome, this.ctx);
  }

  onScrape(worker: number, m: ScrapedMetrics): void {
    this.workers[worker].scraped = m;
  }

  get inFlightTotal(): number {
    return this.placed.size;
  }
}
