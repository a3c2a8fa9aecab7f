import type { Clock } from '../util/clock.js';
import type { Rng } from '../util/rng.js';
import { UserError } from '../util/errors.js';
import type { Request } from '../workload/request.js';
import type { Decision, Outcome, Policy, PolicyContext, PullDecision, QueueLimits, QueuedRequest, ScrapedMetrics, WorkerView } from './types.js';
import { WorkerRegistry, type WorkerInit, type WorkerListener } from './worker-registry.js';
import { InFlightIndex } from './load-index.js';
import { ModelIndex } from './plugins/filters/model.js';
import { localInFlight, NO_REMOTE_LOAD, type RemoteLoad } from './shared-state.js';
import type { ClassQueue } from './admission/class-queue.js';

/** Where the router's decisions go: the simulator turns them into events, serve into HTTP calls. */
export interface RouterSink {
  dispatch(req: Request, worker: WorkerView): void;
  /**
   * The request ends without a worker. `status` is the HTTP-equivalent: 429 when the pull-mode
   * queue turned it away (full, timed out, SLO unattainable), 503 when a higher priority class
   * pre-empted it there (before any byte), absent for push-mode refusals.
   */
  reject(req: Request, reason: string, status?: 429 | 503): void;
}

export interface RouterOptions {
  policy: Policy;
  /** Workers registered at start, in order (slots 0, 1, ...); more come through `addWorker`. */
  workers?: readonly WorkerInit[];
  clock: Clock;
  rng: Rng;
  sink: RouterSink;
  /** Pull-mode queue bounds; each absent field falls back to the policy's `queueLimits`, else unbounded. */
  queue?: Partial<QueueLimits>;
  /** Priority classes over the pull-mode queue (src/routing/admission); absent = one FIFO, as always. */
  classes?: ClassQueue;
  /**
   * The driver names the worker (`at`) in every `onFirstToken`/`onComplete` and ends each
   * dispatched request exactly once (the simulator's engines do). Push-mode placements are then
   * counted rather than kept by request id: two map operations per request fewer, and a request id
   * that repeats while the first is still in flight is two placements, not one. Pull mode keeps
   * its map (it refuses a repeated id while the first is queued or in flight).
   */
  driverTracksPlacements?: boolean;
}

interface Waiting extends QueuedRequest {
  readonly req: Request;
}

/**
 * The routing core shared by `simulate` and `serve`: an event-driven state machine with no I/O,
 * no wall clock and no unseeded randomness.
 *
 * Push mode (policies without `mode: 'pull'`): `submit` routes the request at once or rejects it.
 *
 * Pull mode (`policy.mode === 'pull'`, e.g. the `slo*` policies), added on top of the same API:
 * - `submit` queues the request and tries to dispatch; a request the policy cannot place now
 *   waits. Every `onComplete`, `submit`, `onScrape` and `onTimer` (and `dispatchWaiting()`, to
 *   call after a worker's health changes) retries the queue, so a worker's freed capacity pulls
 *   the next request. The policy chooses what goes next (`Policy.next`; default FIFO via `pick`).
 * - Bounds: a request arriving to a full queue, or waiting longer than the timeout, ends through
 *   `sink.reject(req, reason, 429)`. The router owns no timer: a driver asks `nextDeadline()`
 *   (router-clock seconds, Infinity when none) and calls `onTimer(now)` once the clock reaches it
 *   (the simulator on its virtual clock, serve with one wall-clock timer).
 * - `queuedTotal` counts waiting requests; `rejectWaiting(reason)` ends them all (shutdown, end
 *   of a simulation) so no request is lost.
 *
 * Workers live in a `WorkerRegistry` (`addWorker`, `drainWorker`, `resumeWorker`, `removeWorker`,
 * lookups through `registry`). The policy hears `onWorkerAdded`/`onWorkerRemoved`; a removal
 * with requests in flight drains first and completes when the last one ends, so a removed
 * worker leaves no state in the router or the policy.
 */
export class Router {
  readonly registry = new WorkerRegistry();
  private readonly policy: Policy;
  private readonly ctx: PolicyContext;
  private readonly sink: RouterSink;
  private readonly placed = new Map<string, WorkerView>();
  /** Placements not in `placed` (`driverTracksPlacements`, push mode); null when every placement is there. */
  private untracked: number | null;
  readonly branches = new Map<string, number>();
  private readonly queue = new Map<string, Waiting>();
  private readonly limits: QueueLimits;
  private draining = false;
  /** Least-in-flight index over the routable list (built at the first lookup). */
  private loadIndex: InFlightIndex | null = null;
  private drainAgain = false;
  private readonly modelIndex = new ModelIndex();
  /** Requests other replicas hold in their pull-mode queues (shared-state.ts), counted against `maxLength`. */
  private remoteQueued = 0;
  private readonly classes?: ClassQueue;
  /** Candidates of the decision being made, for `tryClass` (bound once: no closure per decision). */
  private deciding: readonly WorkerView[] = [];
  private readonly tryClass = (q: ReadonlyMap<string, QueuedRequest>): PullDecision | null => this.decideFrom(q as ReadonlyMap<string, Waiting>, this.deciding);
  readonly pullMode: boolean;

  constructor(o: RouterOptions) {
    this.policy = o.policy;
    this.classes = o.classes;
    this.pullMode = o.policy.mode === 'pull' || o.classes?.holdsQueue === true;
    this.untracked = o.driverTracksPlacements === true && !this.pullMode ? 0 : null;
    this.ctx = { clock: o.clock, rng: o.rng, inFlightIndex: (c) => this.inFlightIndex(c) };
    this.sink = o.sink;
    this.limits = {
      maxLength: o.queue?.maxLength ?? o.classes?.limits.maxLength ?? o.policy.queueLimits?.maxLength ?? Infinity,
      timeoutS: o.queue?.timeoutS ?? o.classes?.limits.timeoutS ?? o.policy.queueLimits?.timeoutS ?? Infinity,
    };
    this.registry.subscribe((e) => {
      if (e.type === 'added') this.policy.onWorkerAdded?.(e.worker);
      else if (e.type === 'removed') this.policy.onWorkerRemoved?.(e.worker);
      if (e.type === 'added' || e.type === 'resumed') this.dispatchWaiting();
    });
    for (const w of o.workers ?? []) this.registry.add(w);
  }

  /** Registered workers (any state) in slot order; an immutable snapshot, replaced on change. */
  get workers(): readonly WorkerView[] {
    return this.registry.workers;
  }

  /** Registers a worker (the object becomes its view); pull mode retries its queue. */
  addWorker(init: WorkerInit): WorkerView {
    return this.registry.add(init);
  }

  /** The worker takes no new requests; in-flight ones finish (a `drained` event follows). */
  drainWorker(id: number): boolean {
    return this.registry.drain(id);
  }

  resumeWorker(id: number): boolean {
    return this.registry.resume(id);
  }

  /** Removes the worker now, or once its in-flight requests end ('pending'); see WorkerRegistry.remove. */
  removeWorker(id: number): 'removed' | 'pending' | undefined {
    return this.registry.remove(id);
  }

  /** Registry change notifications (added, draining, drained, resumed, removed). */
  onWorkerEvent(fn: WorkerListener): () => void {
    return this.registry.subscribe(fn);
  }

  get policyName(): string {
    return this.policy.name;
  }

  /** Routes one request now (push mode), or queues it and dispatches what can go (pull mode). */
  submit(req: Request): void {
    if (this.pullMode) {
      this.enqueue(req);
      return;
    }
    const all = this.candidates();
    if (all.length === 0) {
      this.sink.reject(req, 'no healthy worker');
      return;
    }
    const candidates = this.forModel(req, all);
    if (candidates.length === 0) {
      this.sink.reject(req, `no healthy worker serves model ${req.model ?? ''}`);
      return;
    }
    const d = this.policy.pick(req, candidates, this.ctx);
    if (!d) {
      this.sink.reject(req, `policy ${this.policy.name} found no eligible worker`);
      return;
    }
    this.place(req, d);
  }

  /** See PolicyContext.inFlightIndex: indexes the eligible list, rebuilt when the registry replaces it. */
  private inFlightIndex(candidates: readonly WorkerView[]): InFlightIndex | undefined {
    if (candidates !== this.registry.eligible || candidates.length === 0) return undefined;
    if (this.loadIndex?.list !== candidates) this.loadIndex = new InFlightIndex(candidates);
    return this.loadIndex;
  }

  /** Healthy routable workers in slot order: kept by the registry, so no fleet scan per decision. */
  private candidates(): readonly WorkerView[] {
    return this.registry.eligible;
  }

  /** Which registered workers serve which model: every request naming a model is routed among them. */
  get models(): ModelIndex {
    this.modelIndex.reset(this.registry.workers);
    return this.modelIndex;
  }

  /** The candidates serving the request's model (the list itself when it names none or all serve it). */
  private forModel(req: Request, candidates: readonly WorkerView[]): readonly WorkerView[] {
    return req.model === undefined ? candidates : this.models.narrow(req.model, candidates);
  }

  /** Some registered worker serves `model` (by name or alias), or an unlabelled one might. */
  servesModel(model: string): boolean {
    return this.models.known(model);
  }

  private place(req: Request, d: Decision): void {
    const w = this.registry.activeAtSlot(d.worker);
    if (!w || !w.healthy) throw new Error(`policy ${this.policy.name} picked worker ${d.worker}, which is not a candidate`);
    if (req.model !== undefined && this.models.mixed && !this.models.serves(w, req.model)) throw new Error(`policy ${this.policy.name} picked worker ${w.name} (${w.model}) for a request for model ${req.model}`);
    if (d.branch) this.branches.set(d.branch, (this.branches.get(d.branch) ?? 0) + 1);
    w.inFlight++;
    this.loadIndex?.update(w);
    w.inFlightPromptTokens += req.inputTokens;
    w.inPrefill++;
    if (this.untracked === null) this.placed.set(req.id, w);
    else this.untracked++;
    this.classes?.placed(req);
    this.policy.onDispatch?.(req, w, this.ctx);
    this.sink.dispatch(req, w);
  }

  private enqueue(req: Request): void {
    if (this.queue.has(req.id) || this.placed.has(req.id)) {
      throw new UserError(`request id "${req.id}" was submitted again while still queued or in flight (pull mode needs unique request ids)`);
    }
    const entry: Waiting = { req, enqueuedS: this.ctx.clock.now() };
    this.queue.set(req.id, entry);
    this.classes?.enqueued(entry);
    this.policy.onEnqueue?.(entry, this.ctx);
    this.drain();
    if (this.queue.has(req.id) && this.queue.size + this.remoteQueued > this.limits.maxLength) {
      const victim = this.classes?.victim(entry);
      if (victim) this.endWaiting(victim as Waiting, `pre-empted in the router queue by a ${req.priority ?? 'higher-priority'} request (queue full: ${this.limits.maxLength} waiting)`, 503);
      else this.endWaiting(entry, `router queue full: ${this.limits.maxLength} requests already waiting`);
    }
  }

  private endWaiting(entry: Waiting, reason: string, status: 429 | 503 = 429): void {
    this.queue.delete(entry.req.id);
    this.classes?.dequeued(entry);
    this.policy.onDequeue?.(entry, this.ctx);
    this.sink.reject(entry.req, reason, status);
  }

  private nextDecision(): PullDecision | null {
    const candidates = this.candidates();
    if (candidates.length === 0) return null;
    if (this.classes) {
      this.deciding = candidates;
      return this.classes.decide(this.ctx.clock.now(), this.queue, this.tryClass);
    }
    return this.decideFrom(this.queue, candidates);
  }

  /** The policy's choice among `queue` (the whole queue, or one priority class of it). */
  private decideFrom(queue: ReadonlyMap<string, Waiting>, candidates: readonly WorkerView[]): PullDecision | null {
    if (this.policy.next) return this.policy.next(queue, candidates, this.ctx);
    if (!this.models.mixed) {
      const head = queue.values().next().value as Waiting;
      const d = this.policy.pick(head.req, this.forModel(head.req, candidates), this.ctx);
      return d ? { entry: head, decision: d } : null;
    }
    // One FIFO per model: a request whose model's workers are full does not hold up another model's.
    const tried = new Set<string>();
    // Requests without a model, and those naming no labelled model, share one extra FIFO.
    const distinct = this.models.models().length + 1;
    for (const entry of queue.values()) {
      const m = entry.req.model;
      const key = (m === undefined ? undefined : this.models.canonicalName(m)) ?? '';
      if (tried.has(key)) continue;
      tried.add(key);
      const eligible = this.forModel(entry.req, candidates);
      const d = eligible.length > 0 ? this.policy.pick(entry.req, eligible, this.ctx) : null;
      if (d) return { entry, decision: d };
      if (tried.size >= distinct) break;
    }
    return null;
  }

  /** Dispatches queued requests until the policy has nothing that fits; re-entrant calls (a sink that completes synchronously) only ask for another pass. */
  private drain(): void {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        while (this.queue.size > 0) {
          const d = this.nextDecision();
          if (!d) break;
          const entry = this.queue.get(d.entry.req.id);
          if (!entry) throw new Error(`policy ${this.policy.name} chose request ${d.entry.req.id}, which is not queued`);
          if ('reject' in d) {
            this.endWaiting(entry, d.reject);
            continue;
          }
          this.queue.delete(entry.req.id);
          this.classes?.dequeued(entry);
          this.policy.onDequeue?.(entry, this.ctx);
          this.place(entry.req, d.decision);
        }
      } while (this.drainAgain);
    } finally {
      this.draining = false;
    }
  }

  /** Pull mode: retry the queue now (after a worker became healthy or was added). */
  dispatchWaiting(): void {
    if (this.queue.size > 0) this.drain();
  }

  /** Router-clock time of the next queue timeout; Infinity when nothing can time out. */
  nextDeadline(): number {
    if (this.queue.size === 0 || this.limits.timeoutS === Infinity) return Infinity;
    const oldest = this.queue.values().next().value as Waiting;
    return oldest.enqueuedS + this.limits.timeoutS;
  }

  /** Ends every request whose queue deadline is at or before `now`, then retries the queue. */
  onTimer(now: number): void {
    // One timeout for all, so queue order is deadline order: expire from the front.
    for (const entry of this.queue.values()) {
      if (entry.enqueuedS + this.limits.timeoutS > now) break;
      this.endWaiting(entry, `router queue timeout: waited ${(now - entry.enqueuedS).toFixed(3)} s (limit ${this.limits.timeoutS} s)`);
    }
    this.dispatchWaiting();
  }

  /** Ends every waiting request with `reason` (shutdown, or the end of a simulation). */
  rejectWaiting(reason: string): void {
    for (const entry of [...this.queue.values()]) this.endWaiting(entry, reason);
  }

  get queuedTotal(): number {
    return this.queue.size;
  }

  /**
   * The request's first token. `at`: the worker the caller dispatched it to and knows it is still
   * in flight on (the simulator's engines do), which spares the lookup by id.
   */
  onFirstToken(req: Request, at?: WorkerView): void {
    if (at === undefined && this.untracked !== null) throw new Error(`router: first token of request ${req.id} without its worker (driverTracksPlacements)`);
    const w = at ?? this.placed.get(req.id);
    if (!w) return;
    w.inPrefill--;
    this.policy.onFirstToken?.(req, w, this.ctx);
  }

  /**
   * The request left its worker (finished, failed or was refused there); its load is released.
   * `at`: the worker the caller dispatched it to (one map operation instead of two).
   */
  onComplete(req: Request, outcome: Outcome, firstTokenSeen: boolean, at?: WorkerView): void {
    let w: WorkerView | undefined;
    if (this.untracked === null) {
      w = at ?? this.placed.get(req.id);
      if (w === undefined || !this.placed.delete(req.id)) return;
    } else {
      if (at === undefined) throw new Error(`router: completion of request ${req.id} without its worker (driverTracksPlacements)`);
      w = at;
      this.untracked--;
    }
    this.classes?.released(req);
    w.inFlight--;
    this.loadIndex?.update(w);
    w.inFlightPromptTokens -= req.inputTokens;
    if (!firstTokenSeen) w.inPrefill--;
    this.policy.onComplete?.(req, w, outcome, this.ctx);
    if (localInFlight(w) === 0) this.registry.released(w);
    this.dispatchWaiting();
  }

  /**
   * Several replicas: what the others hold on worker `w` as last synced, replacing the previous
   * overlay (NO_REMOTE_LOAD = local only). Policies read the sum through the view's counts.
   */
  setRemoteLoad(w: WorkerView, load: RemoteLoad): void {
    const old = w.remote ?? NO_REMOTE_LOAD;
    if (old.inFlight === load.inFlight && old.promptTokens === load.promptTokens && old.inPrefill === load.inPrefill) return;
    w.inFlight += load.inFlight - old.inFlight;
    w.inFlightPromptTokens += load.promptTokens - old.promptTokens;
    w.inPrefill += load.inPrefill - old.inPrefill;
    if (load.inFlight === 0 && load.promptTokens === 0 && load.inPrefill === 0) delete w.remote;
    else w.remote = { inFlight: load.inFlight, promptTokens: load.promptTokens, inPrefill: load.inPrefill };
    this.loadIndex?.update(w);
    if (load.inFlight < old.inFlight) this.dispatchWaiting();
  }

  /** Several replicas: requests waiting in the other replicas' queues (the queue bound is shared). */
  setRemoteQueued(n: number): void {
    this.remoteQueued = Math.max(0, n);
  }

  /** New engine metrics for the worker in slot `worker` (ignored once it is removed). */
  onScrape(worker: number, m: ScrapedMetrics): void {
    const w = this.registry.atSlot(worker);
    if (!w) return;
    w.scraped = m;
    this.dispatchWaiting();
  }

  get inFlightTotal(): number {
    return this.untracked === null ? this.placed.size : this.untracked;
  }
}
