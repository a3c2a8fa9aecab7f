import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Router, type RouterSink } from '../routing/router.js';
import type { Outcome, Policy, PolicyContext, ScrapedMetrics, WorkerView } from '../routing/types.js';
import { WorkerExistsError } from '../routing/worker-registry.js';
import { createPolicy } from '../routing/registry.js';
import type { Request, Slo } from '../workload/request.js';
import { effectiveSlo } from '../metrics/slo.js';
import { attachSloTables, checkSloTablesMatch, sloTableFor } from '../routing/slo/attach.js';
import { parseSloHeaders, SLO_HEADERS } from '../routing/slo/targets.js';
import { SloClassCounter } from './slo-classes.js';
import type { ProfileTable } from '../routing/slo/profile.js';
import { childRng, type Rng } from '../util/rng.js';
import { UserError } from '../util/errors.js';
import { WallClock } from './wall-clock.js';
import { errorBody, HttpError, sendError } from './openai-error.js';
import { parseJsonObject, readInferenceBody, type InferenceBody, type InferenceKind } from './parse-body.js';
import { fastTokenCount, fastTokenIdsAsync, promptTokenizer, type PromptTokenizer, type TokenizerName } from './tokenize.js';
import { ServeWorker, type WorkerEvents, type WorkerRuntimeOptions } from './worker.js';
import type { WorkerSpec } from './worker-spec.js';
import type { BreakerOptions } from './circuit-breaker.js';
import { backoffMs, type BackoffOptions } from './backoff.js';
import { ExcludingPolicy } from './exclude-policy.js';
import { SeqTable } from '../util/seq-table.js';
import { sweepIntervalMs } from './sweep-interval.js';
import { RequestLifecycle, type LifecycleHost, type RouteKind } from './lifecycle.js';
import { ServeMetrics } from './prom.js';
import { StartQueue } from './start-queue.js';
import { AccessLog } from './access-log.js';
import { BearerKey } from './auth.js';
import { TraceRecorder } from './recorder.js';
import { liveSnapshot, type LiveSnapshot } from './snapshot.js';
import { RequestMeter } from './request-meter.js';
import { AdminApi, type AdminHost } from './admin.js';
import { Fleet } from './fleet.js';
import { ByteBudget, isJsonContentType, methodNotAllowed, pathOf, readBodyThen, sendJson, type BodyLimits } from './http.js';
import type { ServeHooks } from './hooks.js';
import { TRACING_OFF, type Tracing } from './tracing.js';
import type { KvEventSubscriptions } from './kv-events/subscriptions.js';
import { PdCoordinator, type PdOptions } from './pd/coordinator.js';
import { modelFields, resolveRequestModel, modelsList } from './models.js';
import { Admission } from '../routing/admission/admission.js';
import type { AdmissionConfig } from '../routing/admission/config.js';
import { ServeAdmission } from './admission/serve-admission.js';

export interface ServeOptions {
  host: string;
  port: number;
  workers: WorkerSpec[];
  policy: Policy;
  seed: number;
  apiKey?: string;
  /** Tenants, priority classes and quotas (`--tenants FILE`, docs/tenants.md); absent = none, at no cost. */
  admission?: AdmissionConfig;
  adminKey?: string;
  maxAttempts: number;
  backoff: BackoffOptions;
  breaker: BreakerOptions;
  health: WorkerRuntimeOptions['health'];
  scrapeIntervalMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Client of attempts to http: workers (default DEFAULTS.serve.upstreamClient). */
  upstreamClient?: 'h1' | 'undici';
  /** Streams: longest wait for an attempt's first body byte before retrying elsewhere; 0 = off. */
  firstByteTimeoutMs?: number;
  /** Stall detection (see Fleet); 0 = off. */
  stallTimeoutS?: number;
  maxBodyBytes: number;
  /** Bytes read and discarded after a 413 so the client reads it. */
  drainBodyBytes?: number;
  /** Request-body bytes held at once across all requests; beyond it new bodies get 503. */
  maxBytesInFlight?: number;
  /** Client side: time to receive a request's headers, and its whole body. */
  headerTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Open client connections at most (beyond: refused), and per client address. */
  maxConnections?: number;
  maxConnectionsPerClient?: number;
  drainTimeoutMs: number;
  connections: number;
  defaultMaxTokens: number;
  tokenizer: TokenizerName;
  record?: { path: string; withText: boolean; blockTokens: number };
  slo?: Slo;
  /** AIBrix SLO tables for the slo* policies, matched to workers by `profile` label, else `gpu`. */
  sloProfiles?: readonly ProfileTable[];
  rollingWindowS: number;
  retryAfterS: number;
  /** Where the JSON request log goes; undefined = off. */
  logWrite?: (chunk: string) => void;
  /** Adds `x-router-worker: NAME` to responses (off by default: names can be internal host:port). */
  workerHeader?: boolean;
  /** `/metrics` and `/readiness` require the API key too (when one is set). */
  protectOps?: boolean;
  hooks?: ServeHooks;
  /** Workers come from a discovery source too, so an empty static list is fine. */
  discovery?: boolean;
  /** OpenTelemetry hooks (tracingFromEnv); default off. */
  tracing?: Tracing;
  /** Operator notes (health transitions, ejections); default stderr. */
  note?: (line: string) => void;
  /** KV event subscriptions of workers with `kv_events=` (the policy's precise index reads them). */
  kvEvents?: KvEventSubscriptions;
  /** State shared with other router replicas (`--state`, src/serve/state/); `/readiness` shows its details. */
  state?: { start(router: Router, registry: ServeMetrics['registry']): void; stop(): Promise<void>; readiness(): Record<string, unknown> };
  /** Disaggregated prefill/decode: `workers` are the decode pool, these the prefill side. */
  pd?: PdOptions;
}

const INFERENCE: Record<string, InferenceKind> = { '/v1/chat/completions': 'chat', '/v1/completions': 'completion' };
const PASS_THROUGH: Record<string, string> = { '/v1/models': 'GET', '/v1/embeddings': 'POST' };
/** Prompts longer than this (characters) are tokenized across event-loop turns. */
const ASYNC_TOKENIZE_CHARS = 256 * 1024;
const SLO_HEADER_NAMES = Object.keys(SLO_HEADERS);
/** Whether any x-slo-* header is present (node lower-cases names): most requests have none to parse. */
function hasSloHeader(h: IncomingHttpHeaders): boolean {
  for (const name of SLO_HEADER_NAMES) if (h[name] !== undefined) return true;
  return false;
}
/** A request naming no model (modelFields's answer for it). */
const NO_MODEL: { model?: string; adapter?: string } = Object.freeze({});
const FORWARD_SKIP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

/**
 * `router serve`, the composition root: an OpenAI-compatible proxy that drives the same Router as
 * the simulator with a wall clock. The Router answers through this object (its sink); a dispatch
 * may come later than the submit (pull mode, SLO queue), so every request waits as a
 * RequestLifecycle keyed by its id. Per-request bookkeeping is the RequestMeter's, the admin
 * API the AdminApi's, who takes traffic the Fleet's.
 */
export class ServeApp implements RouterSink, LifecycleHost, AdminHost {
  readonly clock = new WallClock();
  readonly router: Router;
  /** Every registered worker by its stable id (until the Router frees it). */
  private readonly byId = new Map<number, ServeWorker>();
  readonly tracing: Tracing;
  readonly fleet: Fleet;
  readonly metrics: ServeMetrics;
  readonly server: Server;
  readonly policy: ExcludingPolicy;
  draining = false;
  readonly maxAttempts: number;
  readonly workerHeader: boolean;
  readonly firstByteTimeoutMs: number;
  /** Requests not yet finished, by their sequence number (their id is its decimal string). */
  private readonly live = new SeqTable<RequestLifecycle>();
  /** The one timer that ends overdue requests (see sweepDeadlines), while listening. */
  private sweepTimer?: NodeJS.Timeout;
  /** How often it runs: a tenth of the shortest request deadline, between 10 ms and 1 s. */
  readonly sweepMs: number;
  private seq = 0;
  /** Unix seconds at start (`created` of the models the router lists). */
  private readonly startedS = Date.now() / 1000;
  private readonly retryRng: Rng;
  private readonly log: AccessLog;
  private readonly apiKey?: BearerKey;
  private readonly admission?: ServeAdmission;
  private readonly admin: AdminApi;
  private readonly recorder?: TraceRecorder;
  readonly meter: RequestMeter;
  private readonly tokenize: PromptTokenizer;
  /** Pass-through endpoints route with a plain load policy, not the configured one. */
  private readonly passPolicy: ExcludingPolicy;
  private readonly passCtx: PolicyContext;
  private readonly note: (line: string) => void;
  private readonly hooks: ServeHooks;
  private readonly perClient = new Map<string, number>();
  private readonly bodyBudget: ByteBudget;
  private readonly bodyLimits: BodyLimits;
  private readonly workerEvents: WorkerEvents;
  /** Whether requests carry prompt token ids (the policy reads prefixes, or --record hashes them). */
  private readonly needsIds: boolean;
  /** SLO tables the workers are matched against, weakest first (derived, --slo-profile, Redis). */
  private sloTables: readonly ProfileTable[] = [];
  /** Per-SLO-class attainment and goodput (/metrics, snapshot). */
  readonly sloClasses: SloClassCounter;
  /** Disaggregated serving (src/serve/pd); absent for a colocated fleet. */
  readonly pd?: PdCoordinator;
  /** Attempts about to start (next microtask): inference through the PD coordinator when there is one. */
  private readonly starts = new StartQueue<RequestLifecycle, ServeWorker>((lc, w) => {
    if (this.pd && lc.route === 'inference') this.pd.run(lc, w);
    else lc.start(w);
  });

  constructor(readonly o: ServeOptions) {
    if (o.workers.length === 0 && !o.discovery) throw new UserError('serve: no workers (give --workers or --config)');
    this.maxAttempts = Math.max(1, o.maxAttempts);
    this.workerHeader = o.workerHeader === true;
    this.firstByteTimeoutMs = o.firstByteTimeoutMs ?? 0;
    this.sweepMs = sweepIntervalMs(Math.min(o.requestTimeoutMs, this.firstByteTimeoutMs > 0 ? this.firstByteTimeoutMs : Infinity));
    this.hooks = o.hooks ?? {};
    this.note = o.note ?? ((line) => process.stderr.write(`router serve: ${line}\n`));
    this.tokenize = promptTokenizer(o.tokenizer);
    // A policy that reads only counts and load gets a count; ids cost a hash per piece.
    this.needsIds = o.record !== undefined || o.policy.usesPrefix !== false || (o.pd !== undefined && (o.pd.thresholdTokens > 0 || o.pd.prefillPolicy.usesPrefix !== false));
    this.tracing = o.tracing ?? TRACING_OFF;
    this.policy = new ExcludingPolicy(this.tracing.observePolicy(o.policy));
    this.passPolicy = new ExcludingPolicy(createPolicy('least-request'), this.policy.excluded);
    this.bodyBudget = new ByteBudget(o.maxBytesInFlight ?? Infinity);
    this.bodyLimits = { maxBytes: o.maxBodyBytes, drainBytes: o.drainBodyBytes ?? 16 * 1024 * 1024, budget: this.bodyBudget };
    this.passCtx = { clock: this.clock, rng: childRng(o.seed, 'serve-passthrough') };
    this.retryRng = childRng(o.seed, 'serve-retry');
    const admission = o.admission && new Admission(o.admission, this.clock.now());
    this.router = new Router({ policy: this.policy, clock: this.clock, rng: childRng(o.seed, 'router'), sink: this, classes: admission?.classes });
    this.fleet = new Fleet({ stallTimeoutS: o.stallTimeoutS ?? 0, nowS: () => this.clock.now(), onAvailable: () => this.router.dispatchWaiting(), note: this.note });
    this.workerEvents = {
      admissionChanged: () => this.fleet.recompute(),
      scraped: (w: ServeWorker, m: ScrapedMetrics) => this.router.onScrape(w.view.index, m),
      note: this.note,
    };
    this.sloTables = o.sloProfiles ?? [];
    if (o.pd) {
      this.pd = new PdCoordinator({ clock: this.clock, maxAttempts: this.maxAttempts, retryDelayMs: (r) => this.retryDelayMs(r), note: this.note }, o.pd, this.runtime(), o.seed);
      const pd = this.pd;
      this.router.onWorkerEvent((e) => {
        if (e.type === 'removed') pd.decodeWorkerRemoved(e.worker);
      });
    }
    for (const spec of o.workers) this.attach(spec);
    if (o.sloProfiles) checkSloTablesMatch(this.router.workers, o.sloProfiles);
    this.metrics = new ServeMetrics({
      workers: () => this.fleet.live,
      queueLength: () => this.queueLength(),
      policyName: () => this.router.policyName,
      branches: () => this.router.branches,
    });
    this.sloClasses = new SloClassCounter(this.metrics.registry, this.clock.now());
    if (admission) this.admission = new ServeAdmission(admission, this.metrics.registry);
    o.kvEvents?.register(this.metrics.registry);
    this.pd?.attachMetrics(this.metrics.registry);
    this.log = new AccessLog(o.logWrite);
    if (o.apiKey) this.apiKey = new BearerKey(o.apiKey);
    this.admin = new AdminApi(this, o.adminKey ? new BearerKey(o.adminKey) : undefined);
    if (o.record) this.recorder = new TraceRecorder(o.record.path, o.record.withText);
    this.meter = new RequestMeter({
      metrics: this.metrics,
      log: this.log,
      recorder: this.recorder,
      recordBlockTokens: o.record?.blockTokens ?? 16,
      sloClasses: this.sloClasses,
      rollingWindowS: o.rollingWindowS,
      nowS: () => this.clock.now(),
    });
    const headerTimeout = o.headerTimeoutMs ?? 10_000;
    this.server = createServer(
      {
        keepAliveTimeout: 65_000,
        headersTimeout: headerTimeout,
        requestTimeout: headerTimeout + (o.bodyTimeoutMs ?? 60_000),
        // Node checks the two timeouts above only this often (default 30 s).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, headerTimeout / 2)),
      },
      (req, res) => this.handle(req, res),
    );
    if (o.maxConnections !== undefined && o.maxConnections > 0) this.server.maxConnections = o.maxConnections;
    this.server.on('connection', (s: Socket) => this.admitConnection(s));
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      // The client waits for our go before uploading: a too-large body is refused before a byte is sent.
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > o.maxBodyBytes) {
        res.setHeader('connection', 'close');
        this.answerError(req, res, pathOf(req.url), new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${o.maxBodyBytes} bytes`, 'payload_too_large'));
        return;
      }
      res.writeContinue();
      this.handle(req, res);
    });
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => {
      // CONNECT is not something a router of model servers tunnels: answer instead of hanging.
      const body = errorBody(405, 'CONNECT is not supported', 'method_not_allowed');
      socket.end(`HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nallow: GET, POST\r\nconnection: close\r\n\r\n${body}`);
      this.meter.refused(req.method, 'other', pathOf(req.url), 405, 'method_not_allowed');
    });
  }

  nowS(): number {
    return this.clock.now();
  }

  /** Live (not removed) workers in index order. */
  get workers(): readonly ServeWorker[] {
    return this.fleet.live;
  }

  get totals(): RequestMeter['totals'] {
    return this.meter.totals;
  }

  private runtime(): WorkerRuntimeOptions {
    const o = this.o;
    return {
      breaker: o.breaker,
      connections: o.connections,
      connectTimeoutMs: o.connectTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      health: o.health,
      scrapeIntervalMs: o.scrapeIntervalMs,
      nowS: () => this.clock.now(),
      upstreamClient: o.upstreamClient,
    };
  }

  private attach(spec: WorkerSpec): ServeWorker {
    const dup = [...this.fleet.live, ...(this.pd?.workers ?? [])].find((w) => w.spec.url === spec.url || (spec.name !== undefined && w.name === spec.name));
    if (dup) throw new HttpError(409, `worker ${dup.name} (${dup.spec.url}) is already registered`, 'worker_exists');
    if (spec.role === 'prefill') {
      if (!this.pd) throw new HttpError(400, `worker ${spec.url}: role prefill needs a disaggregated serve (start it with --prefill URL)`, 'invalid_value');
      return this.pd.addWorker(spec);
    }
    const w = new ServeWorker(spec, this.runtime(), this.workerEvents);
    const table = sloTableFor(w.view, this.sloTables);
    if (table) w.view.sloProfile = table;
    try {
      this.router.addWorker(w.view);
    } catch (err) {
      if (err instanceof WorkerExistsError) throw new HttpError(409, err.message, 'worker_exists');
      throw err;
    }
    this.byId.set(w.view.id, w);
    if (spec.kvEvents !== undefined) this.o.kvEvents?.add({ id: w.view.id, name: w.name, endpoint: spec.kvEvents });
    this.fleet.add(w);
    this.hooks.onWorkerAdded?.(w);
    return w;
  }

  /** New SLO tables (Redis reload): every worker is matched again; waiting requests may now fit. */
  setSloTables(tables: readonly ProfileTable[]): void {
    this.sloTables = tables;
    attachSloTables(this.fleet.live.map((w) => w.view), tables);
    this.router.dispatchWaiting();
  }

  /** Adds a worker (discovery): it takes traffic once a health check passes. */
  addWorker(spec: WorkerSpec): ServeWorker {
    const w = this.attach(spec);
    if (this.server.listening) void w.start();
    return w;
  }

  /** Adds a worker (`POST /workers`) and resolves once its first health check has run. */
  async addWorkerChecked(spec: WorkerSpec): Promise<ServeWorker> {
    const w = this.attach(spec);
    if (this.server.listening) await w.start();
    this.router.dispatchWaiting();
    return w;
  }

  findWorker(key: string): ServeWorker | undefined {
    return this.fleet.find(key) ?? this.pd?.fleet.find(key);
  }

  /** Disaggregated: the prefill pool (listed by `GET /workers` after the decode pool). */
  get prefillWorkers(): readonly ServeWorker[] {
    return this.pd?.workers ?? [];
  }

  /**
   * Stops sending new requests to `w`; its in-flight requests finish. (Not the registry's drain:
   * discovery turns `drained` back off when the pod is Ready again, and the flag is all routing needs.)
   */
  drainWorker(w: ServeWorker): void {
    w.drained = true;
    w.refresh();
    (this.pd?.owns(w) ? this.pd.fleet : this.fleet).recompute();
  }

  /**
   * Takes `w` out for good: the Router frees it (registry slot, policy state) once its in-flight
   * requests end, and its pool closes then; nothing of it is kept after that.
   */
  removeWorker(w: ServeWorker): void {
    if (w.removed) return;
    if (this.pd?.owns(w)) {
      this.pd.removeWorker(w);
      return;
    }
    w.retire();
    this.fleet.remove(w);
    this.hooks.onWorkerRemoved?.(w);
    const id = w.view.id;
    void this.o.kvEvents?.remove(id);
    const off = this.router.onWorkerEvent((e) => {
      if (e.type !== 'removed' || e.worker.id !== id) return;
      off();
      this.byId.delete(id);
      if (!this.fleet.live.some((x) => x.name === w.name)) this.metrics.forgetWorker(w.name);
      void w.close().catch(() => undefined);
    });
    this.router.removeWorker(id);
  }

  async listen(): Promise<AddressInfo> {
    // Load the tokenizer now rather than on the first request.
    this.tokenize({ text: 'warm up', stream: false });
    // New workers start unhealthy: run the first health checks before taking traffic.
    await Promise.all([...this.fleet.live.map((w) => w.start()), this.pd?.start()]);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserError(`serve: cannot listen on ${this.o.host}:${this.o.port} (${err.code ?? err.message})`)),
      );
      this.server.listen(this.o.port, this.o.host, () => resolve());
    });
    this.fleet.startWatchdog();
    this.sweepTimer = setInterval(this.sweepDeadlines, this.sweepMs).unref();
    this.o.state?.start(this.router, this.metrics.registry);
    return this.server.address() as AddressInfo;
  }

  /**
   * Request timeouts and first-byte timeouts: one sweep over the live requests every `sweepMs`
   * instead of a timer armed and cleared per request, so a deadline is met up to `sweepMs` late
   * (a tenth of the shortest timeout, at most a second).
   */
  private readonly sweepDeadlines = (): void => {
    const nowMs = this.clock.now() * 1000;
    // Ending a request removes it from the table: act on the overdue ones after the scan.
    let due: RequestLifecycle[] | undefined;
    this.live.forEach((lc) => {
      if (lc.overdue(nowMs)) (due ??= []).push(lc);
    });
    if (due) for (const lc of due) lc.checkDeadlines(nowMs);
  };

  /** What serve keeps per worker and per request, for checks that nothing leaks (admin churn). */
  retainedState(): Record<string, number> {
    return {
      registered: this.router.workers.length,
      slots: this.router.workers.reduce((m, v) => Math.max(m, v.index + 1), 0),
      byId: this.byId.size,
      fleet: this.fleet.live.length,
      liveRequests: this.live.size,
      excluded: this.policy.excluded.size,
      metricChildren: this.metrics.cachedChildren,
      perClient: this.perClient.size,
      ...this.pd?.retainedState(),
    };
  }

  /** Requests waiting in the Router's queue (pull mode; always 0 in push mode). */
  queueLength(): number {
    return this.router.queuedTotal;
  }

  snapshot(): LiveSnapshot {
    return liveSnapshot(this, this.meter.rolling);
  }

  // ---- connections ------------------------------------------------------------------------

  private admitConnection(s: Socket): void {
    const limit = this.o.maxConnectionsPerClient ?? 0;
    if (limit <= 0) return;
    const who = s.remoteAddress ?? '?';
    const n = (this.perClient.get(who) ?? 0) + 1;
    if (n > limit) {
      const body = errorBody(429, `too many connections from ${who} (limit ${limit})`, 'too_many_connections');
      s.end(`HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      s.destroySoon();
      return;
    }
    this.perClient.set(who, n);
    s.once('close', () => {
      const left = (this.perClient.get(who) ?? 1) - 1;
      if (left <= 0) this.perClient.delete(who);
      else this.perClient.set(who, left);
    });
  }

  // ---- Router sink ------------------------------------------------------------------------

  dispatch(req: Request, view: WorkerView): void {
    const lc = this.live.get(Number(req.id));
    if (!lc || lc.phase !== 'routing') {
      // The client left (or timed out) while the request waited in the Router: release at once.
      queueMicrotask(() => this.router.onComplete(req, { ok: false, outputTokens: 0 }, false));
      return;
    }
    const w = this.byId.get(view.id) as ServeWorker;
    lc.dispatched();
    this.metrics.countDispatch(w.name);
    // Deferred: the Router may dispatch from inside onComplete of another request.
    this.starts.push(lc, w);
  }

  reject(req: Request, reason: string, status?: 429 | 503): void {
    const lc = this.live.get(Number(req.id));
    if (!lc || lc.phase === 'done') return;
    const retryAfter = { 'retry-after': String(this.o.retryAfterS) };
    if (this.admission && status !== undefined) {
      this.admission.count(req, status === 503 ? 'preempted' : 'queue_rejected');
      // Pre-empted in the queue by a higher class: nothing was sent, so the client may retry as is.
      if (status === 503) { lc.rejected(new HttpError(503, reason, 'preempted', null, retryAfter)); return; }
    }
    // 429: the pull-mode queue turned it away (full, timed out, SLO unattainable); else no worker.
    lc.rejected(status === 429 ? new HttpError(429, reason, 'router_queue', null, retryAfter) : new HttpError(503, `no worker can take the request: ${reason}`, 'no_worker_available', null, retryAfter));
  }

  /** Pull mode: one wall-clock timer for the Router's next queue deadline. */
  private queueTimer?: NodeJS.Timeout;
  private queueTimerAt = Infinity;

  private armQueueTimer(): void {
    const at = this.router.nextDeadline();
    if (at === Infinity || at >= this.queueTimerAt) return;
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.queueTimerAt = at;
    this.queueTimer = setTimeout(() => {
      this.queueTimer = undefined;
      this.queueTimerAt = Infinity;
      this.router.onTimer(this.clock.now());
      this.armQueueTimer();
    }, Math.max(0, (at - this.clock.now()) * 1000) + 1);
  }

  // ---- LifecycleHost ----------------------------------------------------------------------

  retryDelayMs(retry: number): number {
    return backoffMs(this.o.backoff, retry, this.retryRng);
  }

  route(lc: RequestLifecycle): void {
    lc.trace.submitted();
    if (lc.route === 'inference') {
      // performance.now(): a double, where hrtime.bigint() allocates two BigInts per decision.
      const t0 = performance.now();
      this.router.submit(lc.request);
      this.metrics.decisionTime.observe((performance.now() - t0) / 1e3);
      if (this.router.pullMode) this.armQueueTimer();
      return;
    }
    // Pass-through endpoints (models, embeddings) are not inference: a plain least-request pick
    // among the workers taking traffic, away from those that failed this request.
    const views = this.router.registry.routable;
    const candidates = views.every((v) => v.healthy) ? views : views.filter((v) => v.healthy);
    const d = candidates.length > 0 ? this.passPolicy.pick(lc.request, candidates, this.passCtx) : null;
    const view = d ? this.router.registry.atSlot(d.worker) : undefined;
    const w = view ? this.byId.get(view.id) : undefined;
    if (!w) {
      lc.rejected(new HttpError(503, 'no healthy worker', 'no_worker_available', null, { 'retry-after': String(this.o.retryAfterS) }));
      return;
    }
    lc.dispatched();
    this.starts.push(lc, w);
  }

  release(lc: RequestLifecycle, outcome: Outcome, firstTokenSeen: boolean): void {
    this.router.onComplete(lc.request, outcome, firstTokenSeen);
    if (this.router.pullMode) this.armQueueTimer();
  }

  onFirstByte(lc: RequestLifecycle): void {
    if (lc.route === 'inference') this.router.onFirstToken(lc.request);
  }

  onResponseHead(lc: RequestLifecycle, headers: IncomingHttpHeaders): void {
    this.hooks.onResponseHead?.(lc, headers);
  }

  onRetry(lc: RequestLifecycle, failed: ServeWorker, why: string): void {
    this.meter.retried(failed, why);
    // The decode worker did nothing wrong when its prefill partner failed.
    if (why === 'prefill_failed') return;
    let ex = this.policy.excluded.get(lc.id);
    if (!ex) this.policy.excluded.set(lc.id, (ex = new Set()));
    ex.add(failed.view.index);
  }

  onFinish(lc: RequestLifecycle): void {
    if (this.admission && lc.route === 'inference') this.admission.settle(lc.request, lc.outputTokens, this.clock.now());
    this.live.delete(Number(lc.id));
    this.policy.excluded.delete(lc.id);
    if (lc.body) this.bodyBudget.give(lc.body.length);
    this.meter.finished(lc);
    this.hooks.onRequestEnd?.(lc);
    if (this.draining && this.live.size === 0) this.drained?.();
  }

  // ---- HTTP ------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req.url);
    try {
      this.dispatchHttp(req, res, path);
    } catch (err) {
      this.answerError(req, res, path, err);
    }
  }

  onError(req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void {
    this.answerError(req, res, path, err);
  }

  private answerError(req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void {
    const e = err instanceof HttpError ? err : err instanceof UserError ? new HttpError(400, err.message, 'invalid_value') : new HttpError(500, `internal error: ${(err as Error).message}`, 'internal_error');
    if (e.status >= 500 && !(err instanceof HttpError)) process.stderr.write(`router serve: ${(err as Error).stack ?? String(err)}\n`);
    if (this.draining) res.setHeader('connection', 'close');
    sendError(res, e);
    this.meter.refused(req.method, INFERENCE[path] || PASS_THROUGH[path] ? path : 'other', path, e.status, e.code ?? e.message);
  }

  private checkApiKey(req: IncomingMessage): void {
    // With tenant keys, a tenant's key or the --api-key passes; anything else is refused.
    if (this.admission?.authenticates && (this.admission.identify(req) || this.apiKey?.accepts(req) === true)) return;
    if ((this.apiKey || this.admission?.authenticates) && !this.apiKey?.accepts(req)) {
      throw new HttpError(401, 'missing or invalid API key (expected "Authorization: Bearer <key>")', 'invalid_api_key', null, { 'www-authenticate': 'Bearer' });
    }
  }

  private dispatchHttp(req: IncomingMessage, res: ServerResponse, path: string): void {
    const method = req.method ?? 'GET';
    if (path === '/health' || path === '/liveness') {
      sendJson(res, method, ['GET', 'HEAD'], 200, { status: 'ok' }); return;
    }
    if (path === '/readiness') {
      if (this.o.protectOps) this.checkApiKey(req);
      const healthy = this.fleet.live.filter((w) => w.view.healthy).length;
      const ready = !this.draining && healthy > 0;
      const kv = this.o.kvEvents?.used ? { kv_events: this.o.kvEvents.status() } : {};
      // Shared state unreachable: still ready (fail open), and the details say it routes on local state.
      sendJson(res, method, ['GET', 'HEAD'], ready ? 200 : 503, { ready, healthy_workers: healthy, draining: this.draining, ...(this.o.state ? { state: this.o.state.readiness() } : {}), ...kv }); return;
    }
    if (path === '/metrics') {
      if (method !== 'GET') throw methodNotAllowed(['GET']);
      if (this.o.protectOps) this.checkApiKey(req);
      void this.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          this.answerError(req, res, path, err);
        },
      );
      return;
    }
    if (path === '/workers' || path.startsWith('/workers/')) { this.admin.handle(req, res, method, path); return; }
    const kind = INFERENCE[path];
    const passMethod = PASS_THROUGH[path];
    if (!kind && !passMethod) throw new HttpError(404, `no route for ${method} ${path.slice(0, 200)}`, 'not_found');
    if (method !== (kind ? 'POST' : passMethod)) throw methodNotAllowed([kind ? 'POST' : passMethod]);
    this.checkApiKey(req);
    // While draining, requests already on an open connection are served (the response closes
    // the connection); new connections are refused by the closed listener.
    const ct = req.headers['content-type'];
    if (method === 'POST' && ct !== undefined && !isJsonContentType(ct)) {
      throw new HttpError(415, `content-type must be application/json, got "${ct.slice(0, 100)}"`, 'unsupported_media_type');
    }
    const list = path === '/v1/models' ? modelsList(this.router, Math.floor(this.startedS)) : undefined;
    if (list) { sendJson(res, method, ['GET'], 200, list); return; }
    if (method === 'GET') { this.startRequest(req, res, path, 'passthrough', undefined); return; }
    readBodyThen(
      req,
      res,
      this.bodyLimits,
      (body) => {
        try {
          this.startRequest(req, res, path, kind ? 'inference' : 'passthrough', body, kind);
        } catch (err) {
          this.bodyBudget.give(body.length);
          this.answerError(req, res, path, err);
        }
      },
      (err) => this.answerError(req, res, path, err),
    );
  }

  private startRequest(req: IncomingMessage, res: ServerResponse, path: string, route: RouteKind, body: Buffer | undefined, kind?: InferenceKind): void {
    const id = String(++this.seq);
    const arrivalS = this.clock.now();
    const headers = this.forwardHeaders(req, id);
    if (route === 'inference' && body && kind) {
      const parsed = readInferenceBody(kind, parseJsonObject(body));
      // 404 now for a model nobody serves; the request is built with what it names.
      const fields = parsed.model === undefined ? NO_MODEL : resolveRequestModel(this.router, parsed.model);
      // x-slo-* headers override --slo target by target; the slo* policies rank by them.
      const slo = effectiveSlo(this.o.slo, hasSloHeader(req.headers) ? parseSloHeaders(req.headers) : undefined);
      const text = parsed.text ?? '';
      if (parsed.tokenIds === undefined && this.o.tokenizer === 'fast' && text.length > ASYNC_TOKENIZE_CHARS) {
        // A multi-megabyte prompt is tokenized a slice per turn, so other requests keep moving.
        void fastTokenIdsAsync(text).then(
          (ids) => {
            if (res.destroyed) { this.bodyBudget.give(body.length); return; }
            // Turns later: what the model names is read again (a scrape may have shown LoRA serving).
            this.begin(req, res, path, route, body, headers, this.inferenceRequest(id, arrivalS, parsed, slo, headers, Math.max(1, ids.length), this.needsIds ? ids : undefined, modelFields(this.router, parsed.model)), parsed.stream);
          },
          (err: unknown) => {
            this.bodyBudget.give(body.length);
            this.answerError(req, res, path, err);
          },
        );
        return;
      }
      let request: Request;
      if (this.needsIds || parsed.tokenIds !== undefined || this.o.tokenizer !== 'fast') {
        const ids = this.tokenize(parsed);
        request = this.inferenceRequest(id, arrivalS, parsed, slo, headers, Math.max(1, ids.length), ids, fields);
      } else {
        request = this.inferenceRequest(id, arrivalS, parsed, slo, headers, Math.max(1, fastTokenCount(text)), undefined, fields);
      }
      this.begin(req, res, path, route, body, headers, request, parsed.stream);
      return;
    }
    if (body) parseJsonObject(body);
    const sessionId = headers['x-session-id'];
    const userId = headers['x-user-id'];
    const request: Request = sessionId !== undefined || userId !== undefined ? { id, arrivalS, inputTokens: 1, outputTokens: 1, sessionId, userId } : { id, arrivalS, inputTokens: 1, outputTokens: 1 };
    this.begin(req, res, path, route, body, headers, request, false);
  }

  /** An inference request as the Router sees it, built once in its final shape. */
  private inferenceRequest(id: string, arrivalS: number, parsed: InferenceBody, slo: Slo | undefined, headers: Record<string, string>, inputTokens: number, ids: ArrayLike<number> | undefined, fields: { model?: string; adapter?: string }): Request {
    return {
      id,
      arrivalS,
      inputTokens,
      outputTokens: parsed.maxTokens ?? this.o.defaultMaxTokens,
      text: parsed.text,
      slo,
      prefix: ids !== undefined ? { kind: 'tokens', ids } : undefined,
      // Affinity keys for session-affinity / consistent-hash (AIBrix's x-session-id).
      sessionId: headers['x-session-id'],
      userId: headers['x-user-id'],
      ...fields,
    };
  }

  /** The client's headers as sent upstream: hop-by-hop ones dropped, repeats joined, an x-request-id ensured. */
  private forwardHeaders(req: IncomingMessage, id: string): Record<string, string> {
    const headers: Record<string, string> = {};
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toLowerCase();
      if (FORWARD_SKIP.has(k) || (k === 'authorization' && (this.apiKey || this.admission?.authenticates))) continue;
      const prev = headers[k];
      headers[k] = prev === undefined ? raw[i + 1] : `${prev}, ${raw[i + 1]}`;
    }
    const rid = headers['x-request-id'];
    if (rid === undefined || rid.length > 200) headers['x-request-id'] = `req-${id}`;
    return headers;
  }

  private begin(req: IncomingMessage, res: ServerResponse, path: string, route: RouteKind, body: Buffer | undefined, headers: Record<string, string>, request: Request, stream: boolean): void {
    if (this.admission && route === 'inference') {
      try {
        request = this.admission.resolve(req, request);
      } catch (err) {
        if (body) this.bodyBudget.give(body.length);
        this.answerError(req, res, path, err);
        return;
      }
    }
    const lc = new RequestLifecycle(this, res, route, req.method ?? 'POST', path, headers, body, request, stream, request.arrivalS, this.o.requestTimeoutMs);
    if (this.tracing.enabled) lc.trace = this.tracing.request(request.id, lc.method, path, req.headers);
    this.live.set(Number(request.id), lc);
    this.meter.arrived(lc);
    this.hooks.onRequestStart?.(lc);
    const refused = this.admission && route === 'inference' ? this.admission.admit(request, this.clock.now()) : null;
    // Over a quota: answered 429 through the lifecycle, so it counts as a miss of its SLO class.
    if (refused) lc.rejected(refused);
    else this.route(lc);
  }

  // ---- Shutdown ----------------------------------------------------------------------------

  private drained?: () => void;
  private cutNow?: () => void;
  private shuttingDown?: Promise<{ drained: boolean; cut: number }>;

  /**
   * Stops accepting, lets in-flight requests finish up to the drain deadline, then ends what is
   * left (streams get an SSE error and [DONE]) and flushes the log and the record file. A second
   * call (a second SIGTERM) ends what is left at once, just as cleanly.
   */
  shutdown(): Promise<{ drained: boolean; cut: number }> {
    if (this.shuttingDown) {
      this.cutNow?.();
      return this.shuttingDown;
    }
    this.shuttingDown = this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<{ drained: boolean; cut: number }> {
    this.draining = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    this.fleet.stopWatchdog();
    let cut = 0;
    if (this.live.size > 0) {
      const done = new Promise<boolean>((resolve) => {
        this.drained = () => resolve(true);
        this.cutNow = () => resolve(false);
        setTimeout(() => resolve(false), this.o.drainTimeoutMs).unref();
      });
      if (!(await done)) {
        cut = this.live.size;
        for (const lc of this.live.values()) lc.stopWith('shutdown');
        this.router.rejectWaiting('server is shutting down');
        // Aborted attempts end on undici's next turn: wait (bounded) until every request ended.
        await new Promise<void>((resolve) => {
          if (this.live.size === 0) { resolve(); return; }
          this.drained = resolve;
          setTimeout(resolve, 1000).unref();
        });
      }
    }
    this.log.flush();
    // Let the final writes reach their sockets before closing what is left.
    await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
    await this.o.kvEvents?.close();
    const all = [...this.byId.values()];
    for (const w of all) w.stop();
    if (this.queueTimer) clearTimeout(this.queueTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all([...all.map((w) => w.close().catch(() => undefined)), this.pd?.close()]);
    await this.o.state?.stop();
    this.recorder?.close();
    this.log.flush();
    await this.tracing.shutdown();
    return { drained: cut === 0, cut };
  }
}
