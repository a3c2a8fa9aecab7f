import { Engine, type EngineListener, type Sequence } from '../engine/engine.js';
import { stepCostFor } from '../profiles/step-cost-factory.js';
import type { FleetWorker } from '../profiles/fleet.js';
import type { Deployment } from '../profiles/types.js';
import type { StepCost } from '../engine/step-cost.js';
import { Router } from '../routing/router.js';
import { UserError } from '../util/errors.js';
import type { WorkerInit } from '../routing/worker-registry.js';
import type { Outcome, Policy, ScrapedMetrics, WorkerView } from '../routing/types.js';
import { ProfileTable } from '../routing/slo/profile.js';
import { attachSloTables } from '../routing/slo/attach.js';
import { VirtualClock } from '../util/clock.js';
import { EventHeap } from '../util/heap.js';
import { StepQueue } from './step-queue.js';
import { childRng } from '../util/rng.js';
import type { Request } from '../workload/request.js';
import { RequestLog, type RequestRecord } from '../metrics/request-log.js';
import { effectiveSlo, sloClassName, type SloSpec } from '../metrics/slo.js';
import { latencyMeetsSlo, requestLatency } from '../metrics/latency.js';
import { summarize, summaryFrom, type WorkerSummary } from '../metrics/summary.js';
import { StreamingRequestStats, latencyStatsOfSketch, type RequestSink } from '../metrics/request-stats.js';
import { QuantileSketch } from '../metrics/quantile-sketch.js';
import type { SimulationResult, TimeseriesRow } from '../metrics/run-result.js';
import { PdCoordinator, type PdOptions } from './pd.js';
import { attachOffloadTiers, offloadSummary, workerOffloadSummary } from './kv-offload-sim.js';
import type { SimKvEvents } from './kv-events.js';
import { GroupedStats } from '../metrics/group-stats.js';
import type { SimAdmission } from './admission.js';
import { checkPolicyForModels, unknownModelError } from './models.js';
import { ModelIndex } from '../routing/plugins/filters/model.js';
import { ReplicatedRouter, type ReplicaOptions, type SimRouter } from './replicas.js';

export interface SimulationOptions {
  fleet: FleetWorker[];
  policy: Policy;
  requests: AsyncIterable<Request> | Iterable<Request>;
  seed: number;
  /** Seconds between the router's scrapes of engine metrics; 0 = the router sees live state. */
  scrapeIntervalS: number;
  timeseriesIntervalS: number;
  slo?: SloSpec;
  /**
   * AIBrix SLO tables for the slo* policies, matched to workers by deployment name (else GPU id),
   * weakest first; they override tables a deployment carries from `profile import-aibrix`.
   */
  sloProfiles?: readonly ProfileTable[];
  /** Advance pure-decode stretches in one computation (exact; off only to prove it). */
  fastDecode?: boolean;
  /**
   * Called every few thousand events with the simulator itself; may return a promise (the CLI
   * uses it to yield to the TUI and to honour a stop request). Keeps wall time out of the core.
   */
  onBatch?: (sim: Simulation) => void | Promise<void>;
  /** Events between `onBatch` calls (default 8192); a live dashboard or `--pace` asks for fewer. */
  batchEvents?: number;
  /**
   * `full` (default) keeps every request for requests.csv; `summary` keeps only running totals and
   * quantile sketches (memory independent of the request count; percentiles within 0.5 %), and
   * leaves `log` empty.
   */
  requestLog?: 'full' | 'summary';
  /** Keep timeseries rows (default true); a run that writes no timeseries.csv skips sampling. */
  timeseries?: boolean;
  /**
   * Disaggregation, required by fleets with `prefill`/`decode` workers (src/sim/pd.ts); `policy`
   * then routes the decode pool, `pd.prefillPolicy` the prefill pool.
   */
  pd?: PdOptions;
  /** The engines' KV events, for a policy with a precise prefix index (`--kv-event-lag`). */
  kvEvents?: SimKvEvents;
  /** Several router replicas (`--router-replicas`), each with its own `policy`; absent = one Router running `policy`. */
  replicas?: ReplicaOptions;
  /** Tenants, priority classes and quotas (`--tenants FILE`, src/sim/admission.ts); absent = none. */
  admission?: SimAdmission;
}

// The result types live with the metrics so the reports need not import the simulator.
export type { SimulationResult, TimeseriesRow } from '../metrics/run-result.js';

/** Events other than step ends (those are in `StepQueue`, one entry per worker). */
interface StepEvent {
  time: number;
  seq: number;
  kind: 'scrape' | 'series' | 'transfer';
  worker: number;
}

/** Live figures for progress lines and the dashboard. */
export interface SimProgress {
  simTimeS: number;
  arrived: number;
  completed: number;
  rejected: number;
  inFlight: number;
  /** Requests waiting in the router's pull-mode queue. */
  queued: number;
  events: number;
}

/**
 * Tables a deployment carries from `profile import-aibrix` are that deployment's, whatever
 * deployment name their `gpu` field holds: they are keyed by the deployment they are attached to.
 */
export function importedSloTables(fleet: readonly FleetWorker[]): ProfileTable[] {
  const out = new Map<string, ProfileTable>();
  for (const w of fleet) if (w.deployment.aibrix && !out.has(w.deployment.name)) out.set(w.deployment.name, new ProfileTable({ ...w.deployment.aibrix, gpu: w.deployment.name }));
  return [...out.values()];
}

/**
 * The discrete-event simulator: trace arrivals and engine step ends on one heap keyed by
 * (time, sequence); the Router routes on a virtual clock with a seeded rng; each worker is an
 * `Engine` priced by its deployment's roofline.
 */
export class Simulation {
  readonly clock = new VirtualClock();
  readonly router: SimRouter;
  readonly engines: Engine[];
  readonly views: WorkerView[];
  readonly log = new RequestLog();
  /** Every inter-token gap of every request, ms (as `vllm bench serve` measures ITL). */
  readonly itl = new QuantileSketch();
  private readonly stats: StreamingRequestStats | null;
  private readonly sink: RequestSink;
  /** Which worker serves which model (the fleet never changes in a simulation). */
  private readonly models = new ModelIndex();
  /** Per-model / tenant / priority tallies, wrapped around the sink. */
  private readonly groups: GroupedStats;
  readonly timeseries: TimeseriesRow[] = [];
  private readonly heap = new EventHeap<StepEvent>();
  /** Each worker's scheduled step end; shares `seqNo` with `heap`, so ties order as before. */
  private readonly steps: StepQueue;
  private seqNo = 0;
  private readonly scheduledAt: number[];
  /** Each worker's model context (max_position_embeddings), read once per dispatch without the fleet's object chain. */
  private readonly maxContext: Float64Array;
  /** First tokens and completions of the step being handled, in the order the engine reported them. */
  private readonly finished = new FinishedQueue();
  /** Handled events, reused by `push` so a long run allocates no event objects. */
  private readonly spareEvents: StepEvent[] = [];
  /** The record `complete` fills for the sink (status ok; no reason or HTTP status). */
  private readonly record: RequestRecord = {
    requestId: '',
    arrivalS: NaN,
    worker: '',
    queueMs: NaN,
    ttftMs: NaN,
    tpotMs: NaN,
    e2eMs: NaN,
    inputTokens: 0,
    cachedTokens: 0,
    outputTokens: 0,
    preemptions: 0,
    sloMet: NaN,
    status: 'ok',
    reason: undefined,
    sloClass: undefined,
    httpStatus: undefined,
  };
  /** The outcome `complete` fills for the router: policies read it during `onComplete` and keep none of it. */
  private readonly outcome: Outcome = { ok: true, outputTokens: 0, ttftS: NaN, e2eS: NaN };
  private readonly lastScrape: { hits: number; queries: number }[];
  private readonly lastSeries: { hits: number; queries: number; prompt: number; gen: number; finished: number }[];
  private readonly served: { requests: number; input: number; output: number }[];
  private arrived = 0;
  private firstArrival = NaN;
  private lastEnd = 0;
  private sourceDone = false;
  private bufferedArrivals = 0;
  private stopRequested = false;
  /** Set while a stopped run records what is left: refusals then mean "unfinished". */
  private stopping = false;
  /** Prefill/decode disaggregation; null for colocated fleets, which run exactly as before. */
  readonly pd: PdCoordinator | null;
  events = 0;

  constructor(private readonly o: SimulationOptions) {
    this.stats = o.requestLog === 'summary' ? new StreamingRequestStats() : null;
    const modelOf = new Map(o.fleet.map((w) => [w.name, w.deployment.model.id]));
    this.groups = new GroupedStats(this.stats ?? this.log, (name) => modelOf.get(name), new Set(modelOf.values()).size > 1, (m) => this.models.canonicalName(m) ?? m);
    this.sink = this.groups;
    const sink = {
      dispatch: (req: Request, w: WorkerView) => this.dispatch(req, w),
      reject: (req: Request, reason: string, status?: 429 | 503) => this.recordRejected(req, '', reason, status),
    };
    if (o.admission && o.replicas) throw new UserError('--tenants: not with --router-replicas yet (priority classes live in one router\'s queue)');
    const disaggregated = o.fleet.some((w) => w.role !== undefined && w.role !== 'both');
    // Colocated: every first token and completion names its worker and each dispatch ends once (see drainFinished, dispatch).
    this.router = o.replicas
      ? new ReplicatedRouter(o.replicas, this.clock, o.seed, sink)
      : new Router({ policy: o.policy, clock: this.clock, rng: childRng(o.seed, 'router'), sink, classes: o.admission?.admission.classes, driverTracksPlacements: !disaggregated });
    this.pd = disaggregated ? this.createPd() : null;
    const pd = this.pd;
    // Slots 0..n−1 in fleet order: engine i serves the worker in slot i (a disaggregated fleet: slots per pool).
    this.views = o.fleet.map((w, i) =>
      (pd ? (init: WorkerInit) => pd.addWorker(i, init, this.router) : (init: WorkerInit) => this.router.addWorker(init))({
        name: w.name,
        gpu: w.deployment.gpu.id,
        model: w.deployment.model.id,
        modelAliases: [w.deployment.model.hf_name],
        profile: w.deployment.name,
        costUsdPerHour: w.deployment.costUsdPerHour,
        kvCapacityTokens: w.deployment.engine.numGpuBlocks * w.deployment.engine.blockSize,
        blockSize: w.deployment.engine.blockSize,
      }),
    );
    this.models.reset(this.views);
    checkPolicyForModels(o.policy, this.views);
    attachSloTables(this.views, [...importedSloTables(o.fleet), ...(o.sloProfiles ?? [])]);
    // One pricer per deployment, shared by its workers: pricers are pure, and their per-shape
    // caches then fill once for the fleet instead of once per worker.
    const costs = new Map<Deployment, StepCost>();
    // One closure for every engine: the engines' call of it stays monomorphic.
    const tokenGap = (seconds: number, count: number): void => this.itl.add(seconds * 1e3, count);
    this.engines = o.fleet.map((w, i) => {
      let cost = costs.get(w.deployment);
      if (!cost) costs.set(w.deployment, (cost = stepCostFor(w.deployment)));
      return new Engine(w.deployment.engine, cost, new EngineEvents(this.finished, i, tokenGap), o.fastDecode ?? true);
    });
    attachOffloadTiers(o.fleet, this.engines);
    this.pd?.attachEngines();
    o.kvEvents?.attach(this.engines, this.views, this.clock);
    this.steps = new StepQueue(o.fleet.length);
    this.scheduledAt = o.fleet.map(() => NaN);
    this.maxContext = Float64Array.from(o.fleet, (w) => w.deployment.model.max_position_embeddings);
    this.lastScrape = o.fleet.map(() => ({ hits: 0, queries: 0 }));
    this.lastSeries = o.fleet.map(() => ({ hits: 0, queries: 0, prompt: 0, gen: 0, finished: 0 }));
    this.served = o.fleet.map(() => ({ requests: 0, input: 0, output: 0 }));
  }

  private createPd(): PdCoordinator {
    if (!this.o.pd) throw new Error('a fleet with prefill/decode workers needs SimulationOptions.pd');
    if (this.o.replicas) throw new UserError('--router-replicas: not with a disaggregated fleet yet (one router per pool)');
    return new PdCoordinator(
      {
        clock: this.clock,
        engine: (i) => this.engines[i],
        router: this.router,
        pushTransfer: (time, id) => this.push(time, 'transfer', id),
        sync: (w) => this.sync(w),
        reject: (req, worker, reason) => this.recordRejected(req, worker, reason),
        servedPrefill: (w, req) => {
          const s = this.served[w];
          s.requests++;
          s.input += req.inputTokens;
        },
      },
      this.o.fleet,
      this.o.pd,
      childRng(this.o.seed, 'prefill-router'),
    );
  }

  /** Ends the run at the next batch boundary; what was simulated is still reported. */
  stop(): void {
    this.stopRequested = true;
  }

  progress(): SimProgress {
    return {
      simTimeS: this.clock.now(),
      arrived: this.arrived,
      completed: this.sink.completed,
      rejected: this.sink.rejected,
      inFlight: this.router.inFlightTotal,
      queued: this.router.queuedTotal,
      events: this.events,
    };
  }

  async run(): Promise<SimulationResult> {
    const src = this.o.requests;
    // A synchronous source (a generator, an array) is read without an await per request.
    const syncIt = Symbol.asyncIterator in src ? null : src[Symbol.iterator]();
    const it = syncIt ?? toAsyncIterator(src);
    let buf: Request[] = [];
    let bi = 0;
    // A synchronous source is read a little ahead only: requests a generator made thousands of
    // arrivals earlier have left the cache by the time they arrive (a miss per request); an
    // asynchronous one reads further ahead, where each read may cost an await.
    const ahead = syncIt ? 64 : 4096;
    const refill = async (): Promise<void> => {
      buf = [];
      bi = 0;
      while (buf.length < ahead) {
        const r = syncIt ? syncIt.next() : await it.next();
        if (r.done === true) {
          this.sourceDone = true;
          break;
        }
        buf.push(r.value);
      }
    };
    await refill();
    if (this.o.scrapeIntervalS > 0) this.push(0, 'scrape', -1);
    if (this.o.timeseries !== false) this.push(this.o.timeseriesIntervalS, 'series', -1);
    let sinceBatch = 0;
    const batchEvents = this.o.batchEvents ?? 8192;
    for (;;) {
      if (bi >= buf.length && !this.sourceDone) await refill();
      this.bufferedArrivals = buf.length - bi;
      const nextArrival = bi < buf.length ? buf[bi].arrivalS : Infinity;
      const top = this.heap.peek();
      const steps = this.steps;
      // The earlier of the next step end and the next other event, by (time, sequence).
      const stepFirst = !steps.empty && (!top || steps.topTime < top.time || (steps.topTime === top.time && steps.topSeq < top.seq));
      const topTime = stepFirst ? steps.topTime : (top?.time ?? Infinity);
      // Pull mode only: the router's queue timeouts on the virtual clock (Infinity in push mode).
      const deadline = this.router.nextDeadline();
      if (topTime === Infinity && nextArrival === Infinity && deadline === Infinity) break;
      if (deadline < nextArrival && deadline < topTime) {
        this.clock.set(Math.max(this.clock.now(), deadline));
        this.router.onTimer(this.clock.now());
      } else if (topTime === Infinity || nextArrival <= topTime) {
        this.arrive(buf[bi++]);
      } else if (stepFirst) {
        this.step(steps.topWorker, topTime);
      } else {
        const ev = this.heap.pop() as StepEvent;
        this.handle(ev);
        this.spareEvents.push(ev);
      }
      this.events++;
      if (++sinceBatch >= batchEvents) {
        sinceBatch = 0;
        if (this.o.onBatch) await this.o.onBatch(this);
        if (this.stopRequested) break;
      }
    }
    // Nothing left that could free capacity: whatever still waits is ended, never silently lost.
    if (!this.stopRequested) this.router.rejectWaiting('still waiting in the router queue when the simulation ran out of events');
    else this.recordUnfinished();
    if (this.o.onBatch && !this.stopRequested) await this.o.onBatch(this);
    return this.result();
  }

  /**
   * No request in flight and none left to arrive. Arrivals already read into the buffer count:
   * a trace shorter than one buffer sets `sourceDone` at once, and without them the first scrape
   * would find the run "idle" and never schedule the next one.
   */
  private get idle(): boolean {
    return this.sourceDone && this.bufferedArrivals === 0 && this.router.inFlightTotal === 0 && this.router.queuedTotal === 0;
  }

  private push(time: number, kind: StepEvent['kind'], worker: number): void {
    const ev = this.spareEvents.pop();
    if (ev) {
      ev.time = time;
      ev.seq = this.seqNo++;
      ev.kind = kind;
      ev.worker = worker;
      this.heap.push(ev);
    } else this.heap.push({ time, seq: this.seqNo++, kind, worker });
  }

  private arrive(arriving: Request): void {
    let req = arriving;
    this.clock.set(Math.max(this.clock.now(), req.arrivalS));
    if (this.arrived === 0) this.firstArrival = req.arrivalS;
    this.arrived++;
    if (req.model !== undefined && !this.models.known(req.model)) {
      if (this.models.mixed) throw unknownModelError(req, this.views);
      // A one-model fleet runs every request: a serve recording carries the client's model alias,
      // a foreign trace another vendor's model name, and neither is a choice between pools.
      req = { ...req, model: undefined };
    }
    const adm = this.o.admission;
    if (adm) req = adm.resolve(req);
    this.groups.note(req);
    const refused = adm?.refuse(req, this.clock.now());
    if (refused) {
      this.recordRejected(req, '', refused, 429);
      return;
    }
    if (this.o.scrapeIntervalS === 0) this.scrapeAll();
    this.router.submit(req);
  }

  private dispatch(req: Request, view: WorkerView): void {
    // A disaggregated fleet's decode pool has slots of its own: its engine is found by view.
    const wi = this.pd === null ? view.index : this.views.indexOf(view);
    const engine = this.engines[wi];
    const now = this.clock.now();
    // vLLM answers 400 when prompt + max_tokens exceed max_model_len (the model's context), as mock-worker does.
    const maxContext = this.maxContext[wi];
    if (req.inputTokens + req.outputTokens > maxContext) {
      this.router.onComplete(req, { ok: false, outputTokens: 0 }, false, this.pd === null ? view : undefined);
      this.recordRejected(req, view.name, `prompt + output (${req.inputTokens} + ${req.outputTokens} tokens) exceed the model's maximum context length (${maxContext} tokens)`);
      return;
    }
    if (!engine.fits(req)) {
      this.router.onComplete(req, { ok: false, outputTokens: 0 }, false, this.pd === null ? view : undefined);
      this.recordRejected(req, view.name, `prompt + output (${req.inputTokens + req.outputTokens} tokens) exceed the worker's KV cache`);
      return;
    }
    if (this.pd !== null && this.pd.dispatchDecode(req, view)) return;
    engine.add(req, now);
    this.sync(wi);
  }

  private sync(w: number): void {
    const t = this.engines[w].nextEventTime;
    if (t === this.scheduledAt[w] || (Number.isNaN(t) && Number.isNaN(this.scheduledAt[w]))) return;
    this.scheduledAt[w] = t;
    if (Number.isNaN(t)) this.steps.delete(w);
    else this.steps.set(w, t, this.seqNo++);
  }

  /**
   * Worker `w`'s step in flight ends at `t`. Its step-queue entry stays at the top while the step
   * is handled (stale: `scheduledAt` says none) and is re-keyed to the next step end afterwards,
   * one sift instead of a pop and a push; a sync of `w` meanwhile re-keys it as usual.
   */
  private step(w: number, t: number): void {
    this.clock.set(t);
    this.scheduledAt[w] = NaN;
    this.engines[w].advance(t);
    this.drainFinished(t);
    const next = this.engines[w].nextEventTime;
    if (Number.isNaN(next)) {
      this.scheduledAt[w] = NaN;
      this.steps.delete(w);
    } else if (next !== this.scheduledAt[w]) {
      this.scheduledAt[w] = next;
      this.steps.set(w, next, this.seqNo++);
    }
  }

  private handle(ev: StepEvent): void {
    this.clock.set(ev.time);
    if (ev.kind === 'transfer') {
      (this.pd as PdCoordinator).onTransferDone(ev.worker, ev.time);
    } else if (ev.kind === 'scrape') {
      this.scrapeAll();
      if (!this.idle) this.push(ev.time + this.o.scrapeIntervalS, 'scrape', -1);
    } else {
      this.sampleSeries(ev.time);
      if (!this.idle) this.push(ev.time + this.o.timeseriesIntervalS, 'series', -1);
    }
  }

  private drainFinished(now: number): void {
    const f = this.finished;
    const seqs = f.seqs;
    // Completions can re-enter (pull mode dispatches on completion; an engine may then report more).
    for (let i = 0; i < f.length; i++) {
      const seq = seqs[i];
      const worker = f.workers[i];
      if (this.pd !== null && this.pd.isPrefill(worker)) this.pd.prefillEvent(seq, worker, f.first[i] === 1, now);
      else if (f.first[i] === 1) this.router.onFirstToken(seq.req, this.pd === null ? this.views[worker] : undefined);
      else this.complete(seq, worker, now);
    }
    f.length = 0;
  }

  private complete(seq: Sequence, worker: number, now: number): void {
    const req = seq.req;
    const arrival = req.arrivalS;
    const out = req.outputTokens;
    const first = seq.firstTokenAt;
    // requestLatency's arithmetic, in locals: the object is built only when an SLO judges it.
    const ttftMs = (first - arrival) * 1e3;
    const tpotMs = out > 1 ? ((now - first) * 1e3) / (out - 1) : NaN;
    const e2eMs = (now - arrival) * 1e3;
    const slo = effectiveSlo(this.o.slo, req.slo);
    const sloMet = slo ? (latencyMeetsSlo(slo, requestLatency(arrival, first, now, out), req.inputTokens, out) ? 1 : 0) : NaN;
    const s = this.served[worker];
    s.requests++;
    s.input += req.inputTokens;
    s.output += out;
    this.lastEnd = Math.max(this.lastEnd, now);
    // One record object for every completion: sinks read it during `add` and keep none of it.
    const r = this.record;
    r.requestId = req.id;
    r.arrivalS = arrival;
    r.worker = this.views[worker].name;
    r.queueMs = (seq.firstScheduledAt - arrival) * 1e3;
    r.ttftMs = ttftMs;
    r.tpotMs = tpotMs;
    r.e2eMs = e2eMs;
    r.inputTokens = req.inputTokens;
    r.cachedTokens = seq.cachedTokens;
    r.outputTokens = out;
    r.preemptions = seq.preemptions;
    r.sloMet = sloMet;
    r.sloClass = slo ? sloClassName(slo) : undefined;
    this.sink.add(r);
    this.o.admission?.completed(req, now);
    const o = this.outcome;
    o.outputTokens = out;
    o.ttftS = ttftMs / 1e3;
    o.e2eS = e2eMs / 1e3;
    this.router.onComplete(req, o, true, this.pd === null ? this.views[worker] : undefined);
  }

  /** A stopped run: requests queued in the router or still on an engine are reported as unfinished, not dropped. */
  private recordUnfinished(): void {
    this.stopping = true;
    this.router.rejectWaiting('still waiting in the router queue when the run was stopped');
    const now = this.clock.now();
    this.engines.forEach((e, i) => {
      e.materialize(now);
      for (const seq of e.unfinished()) this.recordRejected(seq.req, this.views[i].name, 'in flight when the run was stopped', undefined, seq);
    });
    for (const p of this.pd?.pending() ?? []) this.recordRejected(p.req, this.views[p.worker].name, 'waiting for or receiving its KV transfer when the run was stopped');
  }

  private recordRejected(req: Request, worker: string, reason: string, httpStatus?: 429 | 503, seq?: Sequence): void {
    if (this.stopping) {
      this.sink.add({
        requestId: req.id,
        arrivalS: req.arrivalS,
        worker,
        queueMs: seq && Number.isFinite(seq.firstScheduledAt) ? (seq.firstScheduledAt - req.arrivalS) * 1e3 : NaN,
        ttftMs: seq && Number.isFinite(seq.firstTokenAt) ? (seq.firstTokenAt - req.arrivalS) * 1e3 : NaN,
        tpotMs: NaN,
        e2eMs: NaN,
        inputTokens: req.inputTokens,
        cachedTokens: seq?.cachedTokens ?? 0,
        outputTokens: seq?.numOutput ?? 0,
        preemptions: seq?.preemptions ?? 0,
        sloMet: NaN,
        status: 'unfinished',
        reason,
      });
      return;
    }
    this.lastEnd = Math.max(this.lastEnd, this.clock.now());
    const slo = effectiveSlo(this.o.slo, req.slo);
    this.sink.add({
      requestId: req.id,
      arrivalS: req.arrivalS,
      worker,
      queueMs: NaN,
      ttftMs: NaN,
      tpotMs: NaN,
      e2eMs: NaN,
      inputTokens: req.inputTokens,
      cachedTokens: 0,
      outputTokens: 0,
      preemptions: 0,
      sloMet: slo ? 0 : NaN,
      status: 'rejected',
      reason,
      sloClass: slo ? sloClassName(slo) : undefined,
      httpStatus,
    });
  }

  private scrapeAll(): void {
    const now = this.clock.now();
    for (let i = 0; i < this.engines.length; i++) {
      const e = this.engines[i];
      e.materialize(now);
      const c = e.counters;
      const last = this.lastScrape[i];
      const dq = c.prefixQueries - last.queries;
      const m: ScrapedMetrics = {
        running: e.numRunning,
        waiting: e.numWaiting,
        kvUsage: e.kvUsage,
        prefixHitRate: dq > 0 ? (c.prefixHits - last.hits) / dq : undefined,
        atS: now,
      };
      // A plain field, not a spread: a spread in the literal takes V8's slow object-clone path, per worker per scrape.
      if (e.lora) m.lora = e.loraInfo(e.lora);
      (this.pd === null ? this.router : this.pd.routerOf(i)).onScrape(this.views[i].index, m);
      last.hits = c.prefixHits;
      last.queries = c.prefixQueries;
    }
  }

  private sampleSeries(now: number): void {
    const dt = this.o.timeseriesIntervalS;
    for (let i = 0; i < this.engines.length; i++) {
      const e = this.engines[i];
      e.materialize(now);
      const s = e.snapshot();
      const last = this.lastSeries[i];
      const dq = s.prefixQueries - last.queries;
      this.timeseries.push({
        t_s: now,
        worker: this.views[i].name,
        running: s.running,
        waiting: s.waiting,
        kv_usage: s.kvUsage,
        in_flight: this.views[i].inFlight,
        completed: s.finished - last.finished,
        // No prompt looked up in this interval: no hit rate (empty in timeseries.csv), not 0%.
        prefix_hit_rate: dq > 0 ? (s.prefixHits - last.hits) / dq : NaN,
        prompt_tokens_per_s: (s.promptTokens - last.prompt) / dt,
        generation_tokens_per_s: (s.generationTokens - last.gen) / dt,
      });
      last.hits = s.prefixHits;
      last.queries = s.prefixQueries;
      last.prompt = s.promptTokens;
      last.gen = s.generationTokens;
      last.finished = s.finished;
    }
  }

  private result(): SimulationResult {
    const durationS = this.arrived > 0 ? Math.max(0, this.lastEnd - this.firstArrival) : 0;
    let hits = 0;
    let queries = 0;
    const workers: WorkerSummary[] = this.engines.map((e, i) => {
      const c = e.counters;
      hits += c.prefixHits;
      queries += c.prefixQueries;
      const s = this.served[i];
      return {
        name: this.views[i].name,
        gpu: this.views[i].gpu,
        model: this.views[i].model,
        requests: s.requests,
        input_tokens: s.input,
        output_tokens: s.output,
        prefix_hit_rate: c.prefixQueries > 0 ? c.prefixHits / c.prefixQueries : 0,
        preemptions: c.preemptions,
        cost_usd: (this.views[i].costUsdPerHour * durationS) / 3600,
      };
    });
    if (this.pd) workers.forEach((w, i) => {
      const role = (this.pd as PdCoordinator).role(i);
      if (role !== 'both') w.role = role;
    });
    workerOffloadSummary(this.engines, workers);
    const input = { policy: this.router.policyName, durationS, wallS: 0, prefixHits: hits, prefixQueries: queries, workers, sloGiven: this.o.slo !== undefined, itl: latencyStatsOfSketch(this.itl) };
    const summary = this.stats ? summaryFrom(this.stats.aggregates(), input) : summarize({ ...input, log: this.log });
    if (this.pd) {
      summary.pd = this.pd.summary();
      this.pd.annotate(this.log, (i) => this.views[i].name);
    }
    const offload = offloadSummary(this.engines);
    if (offload) summary.kv_offload = offload;
    Object.assign(summary, this.groups.summaries(durationS, input.sloGiven));
    return { summary, log: this.log, timeseries: this.timeseries, stopped: this.stopRequested };
  }
}

/** First tokens and completions the engines reported during one event, in order (reused: no allocation per event). */
class FinishedQueue {
  readonly seqs: Sequence[] = [];
  readonly workers: number[] = [];
  /** 1 = first token, 0 = finished. */
  readonly first: number[] = [];
  length = 0;

  note(seq: Sequence, worker: number, first: number): void {
    const n = this.length++;
    this.seqs[n] = seq;
    this.workers[n] = worker;
    this.first[n] = first;
  }
}

/**
 * One engine's listener. A class rather than closures per engine: every engine's calls then reach
 * the same two functions, a call site V8 can inline, where a closure per engine made it
 * megamorphic. `tokenGap` is one function shared by all engines for the same reason.
 */
class EngineEvents implements EngineListener {
  constructor(
    private readonly queue: FinishedQueue,
    private readonly worker: number,
    readonly tokenGap: (seconds: number, count: number) => void,
  ) {}

  firstToken(seq: Sequence): void {
    this.queue.note(seq, this.worker, 1);
  }

  finished(seq: Sequence): void {
    this.queue.note(seq, this.worker, 0);
  }
}

function toAsyncIterator<T>(src: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in src ? src[Symbol.asyncIterator]() : src[Symbol.iterator]();
}
