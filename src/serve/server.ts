import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router, type RouterSink } from '../routing/router.js';
import type { Outcome, Policy, ScrapedMetrics, WorkerView } from '../routing/types.js';
import type { Request, Slo } from '../workload/request.js';
import { promptBlockHashes } from '../workload/block-hash.js';
import { effectiveSlo, meetsSlo, sloClassName } from '../metrics/slo.js';
import { attachSloTables, checkSloTablesMatch, sloTableFor } from '../routing/slo/attach.js';
import { parseSloHeaders } from '../routing/slo/targets.js';
import { SloClassCounter } from './slo-classes.js';
import type { ProfileTable } from '../routing/slo/profile.js';
import { childRng, type Rng } from '../util/rng.js';
import { UserError } from '../util/errors.js';
import { WallClock } from './wall-clock.js';
import { HttpError, sendError } from './openai-error.js';
import { parseJsonObject, readInferenceBody, type InferenceKind } from './parse-body.js';
import { promptTokenizer, type PromptTokenizer, type TokenizerName } from './tokenize.js';
import { ServeWorker, type WorkerRuntimeOptions } from './worker.js';
import { workerFromObject, type WorkerSpec } from './worker-spec.js';
import type { BreakerOptions } from './circuit-breaker.js';
import { backoffMs, type BackoffOptions } from './backoff.js';
import { ExcludingPolicy } from './exclude-policy.js';
import { Job, type JobHost } from './job.js';
import { ServeMetrics } from './prom.js';
import { AccessLog } from './access-log.js';
import { BearerKey } from './auth.js';
import { TraceRecorder } from './recorder.js';
import { RollingWindow } from './rolling.js';
import { liveSnapshot, type LiveSnapshot } from './snapshot.js';
import { TRACING_OFF, type Tracing } from './tracing.js';

export interface ServeOptions {
  host: string;
  port: number;
  workers: WorkerSpec[];
  policy: Policy;
  seed: number;
  apiKey?: string;
  adminKey?: string;
  maxAttempts: number;
  backoff: BackoffOptions;
  breaker: BreakerOptions;
  health: WorkerRuntimeOptions['health'];
  scrapeIntervalMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  maxBodyBytes: number;
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
  /** Workers come from a discovery source too, so an empty static list is fine. */
  discovery?: boolean;
  /** OpenTelemetry hooks (tracingFromEnv); default off. */
  tracing?: Tracing;
}

const INFERENCE: Record<string, InferenceKind> = { '/v1/chat/completions': 'chat', '/v1/completions': 'completion' };
const PASS_THROUGH: Record<string, string> = { '/v1/models': 'GET', '/v1/embeddings': 'POST' };
const FORWARD_SKIP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

/**
 * `router serve`: an OpenAI-compatible proxy that drives the same Router as the simulator with
 * a wall clock. The Router answers through this object (its sink); a dispatch may come later
 * than the submit (pull mode, SLO queue), so every request waits as a Job keyed by its id.
 */
export class ServeApp implements RouterSink, JobHost {
  readonly clock = new WallClock();
  readonly router: Router;
  readonly workers: ServeWorker[] = [];
  private readonly byId = new Map<number, ServeWorker>();
  readonly metrics: ServeMetrics;
  readonly server: Server;
  readonly policy: ExcludingPolicy;
  draining = false;
  readonly maxAttempts: number;
  private readonly jobs = new Map<string, Job>();
  private seq = 0;
  private readonly retryRng: Rng;
  private readonly log: AccessLog;
  private readonly apiKey?: BearerKey;
  private readonly adminKey?: BearerKey;
  private readonly recorder?: TraceRecorder;
  private readonly recordSeq = new Map<string, number>();
  private readonly rolling: { ttft: RollingWindow; tpot: RollingWindow; e2e: RollingWindow };
  readonly totals = { requests: 0, errors: 0, retries: 0, rejected: 0 };
  private directTurn = 0;
  private readonly tokenize: PromptTokenizer;
  /** SLO tables the workers are matched against, weakest first (derived, --slo-profile, Redis). */
  private sloTables: readonly ProfileTable[] = [];
  /** Per-SLO-class attainment and goodput (/metrics, snapshot). */
  readonly sloClasses: SloClassCounter;
  readonly tracing: Tracing;

  constructor(readonly o: ServeOptions) {
    if (o.workers.length === 0 && !o.discovery) throw new UserError('serve: no workers (give --workers or --config)');
    this.maxAttempts = Math.max(1, o.maxAttempts);
    this.tokenize = promptTokenizer(o.tokenizer);
    this.tracing = o.tracing ?? TRACING_OFF;
    this.policy = new ExcludingPolicy(this.tracing.observePolicy(o.policy));
    this.retryRng = childRng(o.seed, 'serve-retry');
    this.router = new Router({ policy: this.policy, clock: this.clock, rng: childRng(o.seed, 'router'), sink: this });
    this.sloTables = o.sloProfiles ?? [];
    for (const spec of o.workers) this.addWorker(spec);
    if (o.sloProfiles) checkSloTablesMatch(this.router.workers, o.sloProfiles);
    this.metrics = new ServeMetrics({
      workers: () => this.workers.filter((w) => !w.removed),
      queueLength: () => this.queueLength(),
      policyName: () => this.router.policyName,
      branches: () => this.router.branches,
    });
    this.sloClasses = new SloClassCounter(this.metrics.registry, this.clock.now());
    this.log = new AccessLog(o.logWrite);
    if (o.apiKey) this.apiKey = new BearerKey(o.apiKey);
    if (o.adminKey) this.adminKey = new BearerKey(o.adminKey);
    if (o.record) this.recorder = new TraceRecorder(o.record.path, o.record.withText);
    this.rolling = { ttft: new RollingWindow(o.rollingWindowS), tpot: new RollingWindow(o.rollingWindowS), e2e: new RollingWindow(o.rollingWindowS) };
    this.server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => this.handle(req, res));
  }

  nowS(): number {
    return this.clock.now();
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
    };
  }

  /** New SLO tables (Redis reload): every worker is matched again; waiting requests may now fit. */
  setSloTables(tables: readonly ProfileTable[]): void {
    this.sloTables = tables;
    attachSloTables(this.workers.filter((w) => !w.removed).map((w) => w.view), tables);
    this.router.dispatchWaiting();
  }

  /** Adds a worker to the fleet (startup and `POST /workers`); its index is stable for life. */
  addWorker(spec: WorkerSpec): ServeWorker {
    const dup = this.workers.find((w) => !w.removed && (w.spec.url === spec.url || (spec.name !== undefined && w.name === spec.name)));
    if (dup) throw new HttpError(409, `worker ${dup.name} (${dup.spec.url}) is already registered`, 'worker_exists');
    const w = new ServeWorker(spec, this.runtime(), (sw, m) => this.scraped(sw, m), () => this.router.dispatchWaiting());
    const table = sloTableFor(w.view, this.sloTables);
    if (table) w.view.sloProfile = table;
    this.router.addWorker(w.view);
    this.byId.set(w.view.id, w);
    this.workers.push(w);
    if (this.server?.listening) w.start();
    return w;
  }

  private scraped(w: ServeWorker, m: ScrapedMetrics): void {
    if (!w.removed) this.router.onScrape(w.view.index, m);
  }

  /** Takes the worker out of rotation; the Router frees it (and its pool closes) once its in-flight requests end. */
  removeWorker(w: ServeWorker): void {
    w.retire();
    const off = this.router.onWorkerEvent((e) => {
      if (e.type !== 'removed' || e.worker !== w.view) return;
      off();
      this.byId.delete(w.view.id);
      this.workers.splice(this.workers.indexOf(w), 1);
      void w.pool.close().catch(() => undefined);
    });
    this.router.removeWorker(w.view.id);
  }

  async listen(): Promise<AddressInfo> {
    // Load the tokenizer now rather than on the first request.
    this.tokenize({ text: 'warm up', stream: false });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserError(`serve: cannot listen on ${this.o.host}:${this.o.port} (${err.code ?? err.message})`)),
      );
      this.server.listen(this.o.port, this.o.host, () => resolve());
    });
    for (const w of this.workers) w.start();
    return this.server.address() as AddressInfo;
  }

  /** Requests waiting in the Router's queue (pull mode; always 0 in push mode). */
  queueLength(): number {
    return this.router.queuedTotal;
  }

  snapshot(): LiveSnapshot {
    return liveSnapshot(this, this.rolling);
  }

  // ---- Router sink ------------------------------------------------------------------------

  dispatch(req: Request, view: WorkerView): void {
    const job = this.jobs.get(req.id);
    const w = this.byId.get(view.id) as ServeWorker;
    if (!job || job.done) {
      // The client left (or timed out) while the request waited in the Router: release at once.
      queueMicrotask(() => this.router.onComplete(req, { ok: false, outputTokens: 0 }, false));
      return;
    }
    job.placed = true;
    this.metrics.countDispatch(w.name);
    // Deferred: the Router may dispatch from inside onComplete of another request.
    queueMicrotask(() => job.start(w));
  }

  reject(req: Request, reason: string, status?: 429): void {
    const job = this.jobs.get(req.id);
    if (!job || job.done) return;
    this.totals.rejected++;
    const retryAfter = { 'retry-after': String(this.o.retryAfterS) };
    // 429: the pull-mode queue turned it away (full, timed out, SLO unattainable); else no worker.
    job.rejected(status === 429 ? new HttpError(429, reason, 'router_queue', null, retryAfter) : new HttpError(503, `no worker can take the request: ${reason}`, 'no_worker_available', null, retryAfter));
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

  // ---- JobHost ----------------------------------------------------------------------------

  retryDelayMs(retry: number): number {
    return backoffMs(this.o.backoff, retry, this.retryRng);
  }

  route(job: Job): void {
    job.trace.submitted();
    if (job.route === 'inference') {
      const t0 = process.hrtime.bigint();
      this.router.submit(job.request);
      this.metrics.decisionTime.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      if (this.router.pullMode) this.armQueueTimer();
      return;
    }
    // Pass-through endpoints bypass the policy: least in-flight healthy worker, rotating on ties.
    const ex = this.policy.excluded.get(job.id);
    let live = this.workers.filter((w) => w.view.healthy);
    const fresh = ex ? live.filter((w) => !ex.has(w.view.index)) : live;
    if (fresh.length > 0) live = fresh;
    if (live.length === 0) {
      job.rejected(new HttpError(503, 'no healthy worker', 'no_worker_available', null, { 'retry-after': String(this.o.retryAfterS) }));
      return;
    }
    const start = this.directTurn++ % live.length;
    let best = live[start];
    for (let i = 1; i < live.length; i++) {
      const w = live[(start + i) % live.length];
      if (w.view.inFlight < best.view.inFlight) best = w;
    }
    this.metrics.countDispatch(best.name);
    queueMicrotask(() => job.start(best));
  }

  release(job: Job, outcome: Outcome, firstTokenSeen: boolean): void {
    if (job.route === 'inference') {
      this.router.onComplete(job.request, outcome, firstTokenSeen);
      if (this.router.pullMode) this.armQueueTimer();
    }
  }

  onFirstToken(job: Job): void {
    if (job.route === 'inference') this.router.onFirstToken(job.request);
  }

  onRetry(job: Job, failed: ServeWorker, why: string): void {
    this.totals.retries++;
    this.metrics.retries.inc({ worker: failed.name });
    this.metrics.errors.inc({ kind: why.startsWith('upstream_status') ? 'upstream_status' : why });
    let ex = this.policy.excluded.get(job.id);
    if (!ex) this.policy.excluded.set(job.id, (ex = new Set()));
    ex.add(failed.view.index);
  }

  onFinish(job: Job): void {
    this.jobs.delete(job.id);
    this.policy.excluded.delete(job.id);
    const now = this.clock.now();
    const status = job.status || (job.clientGone ? 499 : 0);
    this.metrics.countRequest(job.path, status);
    const ttftS = job.firstByteS !== undefined ? job.firstByteS - job.arrivalS : undefined;
    const e2eS = (job.endS ?? now) - job.arrivalS;
    const out = job.outputTokens;
    const tpotS = ttftS !== undefined && out !== undefined && out > 1 && !job.error ? (e2eS - ttftS) / (out - 1) : undefined;
    if (job.error) {
      this.totals.errors++;
      this.metrics.errors.inc({ kind: job.error.startsWith('upstream_status') ? 'upstream_status' : job.error.startsWith('rejected') ? 'rejected' : job.error });
    } else if (ttftS !== undefined) {
      this.metrics.ttft.observe(ttftS);
      this.metrics.e2e.observe(e2eS);
      this.rolling.ttft.add(now, ttftS * 1000);
      this.rolling.e2e.add(now, e2eS * 1000);
      if (tpotS !== undefined) {
        this.metrics.tpot.observe(tpotS);
        this.rolling.tpot.add(now, tpotS * 1000);
      }
    }
    this.record(job, out);
    // Every inference request held to an SLO is judged, a failed or rejected one as a miss.
    const slo = job.request.slo;
    let judged: { name: string; met: boolean } | undefined;
    if (slo && job.route === 'inference') {
      const inTok = job.request.inputTokens;
      const met = ttftS !== undefined && !job.error && meetsSlo(slo, { ttftMs: ttftS * 1000, tpotMs: (tpotS ?? 0) * 1000, e2eMs: e2eS * 1000, tpatMs: (e2eS * 1000) / (inTok + (out ?? 0)) });
      judged = { name: sloClassName(slo), met };
      this.sloClasses.observe(judged.name, met, job.error !== undefined && job.error.startsWith('rejected'));
    }
    if (this.draining && this.jobs.size === 0) this.drained?.();
    if (!this.log.enabled) return;
    const entry: Record<string, unknown> = {
      ts: new Date().toISOString(),
      id: job.upstreamHeaders['x-request-id'],
      method: job.method,
      path: job.path,
      status,
      worker: job.worker?.name ?? null,
      attempts: job.attempts,
      stream: job.stream,
      input_tokens: job.route === 'inference' ? job.request.inputTokens : undefined,
      output_tokens: out,
      queue_ms: job.dispatchS !== undefined ? round((job.dispatchS - job.arrivalS) * 1000) : undefined,
      ttft_ms: ttftS !== undefined ? round(ttftS * 1000) : undefined,
      tpot_ms: tpotS !== undefined ? round(tpotS * 1000) : undefined,
      e2e_ms: round(e2eS * 1000),
    };
    if (judged) {
      entry.slo_met = judged.met;
      entry.slo_class = judged.name;
    }
    if (job.error) entry.error = job.error;
    this.log.log(entry);
  }

  /** `--record`: the request as a trace line, prefix as block hashes, output as produced. */
  private record(job: Job, outputTokens: number | undefined): void {
    const seq = this.recordSeq.get(job.id);
    if (seq === undefined || !this.recorder || !this.o.record) return;
    this.recordSeq.delete(job.id);
    const r = job.request;
    const bt = this.o.record.blockTokens;
    const prefix = r.prefix?.kind === 'tokens' ? { kind: 'blocks' as const, blockTokens: bt, hashIds: promptBlockHashes(r.prefix, r.inputTokens, bt) } : r.prefix;
    this.recorder.finish(seq, { ...r, outputTokens: Math.max(1, outputTokens ?? r.outputTokens), prefix });
  }

  // ---- HTTP ------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    try {
      this.route_(req, res, path);
    } catch (err) {
      this.answerError(req, res, path, err);
    }
  }

  private answerError(req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void {
    const e = err instanceof HttpError ? err : err instanceof UserError ? new HttpError(400, err.message, 'invalid_value') : new HttpError(500, `internal error: ${(err as Error).message}`, 'internal_error');
    if (e.status >= 500 && !(err instanceof HttpError)) process.stderr.write(`router serve: ${(err as Error).stack ?? String(err)}\n`);
    if (e.status === 413 || this.draining) res.setHeader('connection', 'close');
    sendError(res, e);
    this.metrics.countRequest(INFERENCE[path] || PASS_THROUGH[path] ? path : 'other', e.status);
    this.metrics.errors.inc({ kind: e.status < 500 ? 'invalid' : 'internal' });
    this.log.log({ ts: new Date().toISOString(), method: req.method, path: path.slice(0, 200), status: e.status, error: e.code ?? e.message });
  }

  private route_(req: IncomingMessage, res: ServerResponse, path: string): void {
    const method = req.method ?? 'GET';
    if (path === '/health' || path === '/liveness') {
      sendJson(res, method, ['GET', 'HEAD'], 200, { status: 'ok' }); return;
    }
    if (path === '/readiness') {
      const ready = !this.draining && this.workers.some((w) => w.view.healthy);
      sendJson(res, method, ['GET', 'HEAD'], ready ? 200 : 503, { ready, healthy_workers: this.workers.filter((w) => w.view.healthy).length, draining: this.draining }); return;
    }
    if (path === '/metrics') {
      if (method !== 'GET') throw methodNotAllowed(['GET']);
      void this.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => { this.answerError(req, res, path, err); },
      );
      return;
    }
    if (path === '/workers' || path.startsWith('/workers/')) { this.admin(req, res, method, path); return; }
    const kind = INFERENCE[path];
    const passMethod = PASS_THROUGH[path];
    if (!kind && !passMethod) throw new HttpError(404, `no route for ${method} ${path.slice(0, 200)}`, 'not_found');
    if (method !== (kind ? 'POST' : passMethod)) throw methodNotAllowed([kind ? 'POST' : passMethod]);
    if (this.apiKey && !this.apiKey.accepts(req)) {
      throw new HttpError(401, 'missing or invalid API key (expected "Authorization: Bearer <key>")', 'invalid_api_key', null, { 'www-authenticate': 'Bearer' });
    }
    // While draining, requests already on an open connection are served (the response closes
    // the connection); new connections are refused by the closed listener.
    const ct = req.headers['content-type'];
    if (method === 'POST' && ct !== undefined && !/^application\/json\b/i.test(ct)) {
      throw new HttpError(415, `content-type must be application/json, got "${ct.slice(0, 100)}"`, 'unsupported_media_type');
    }
    if (method === 'GET') { this.startJob(req, res, path, 'passthrough', undefined); return; }
    readBody(req, this.o.maxBodyBytes).then(
      (body) => {
        try {
          this.startJob(req, res, path, kind ? 'inference' : 'passthrough', body, kind);
        } catch (err) {
          this.answerError(req, res, path, err);
        }
      },
      (err: unknown) => this.answerError(req, res, path, err),
    );
  }

  private startJob(req: IncomingMessage, res: ServerResponse, path: string, route: 'inference' | 'passthrough', body: Buffer | undefined, kind?: InferenceKind): void {
    const n = ++this.seq;
    const id = String(n);
    const arrivalS = this.clock.now();
    let request: Request;
    let stream = false;
    if (route === 'inference' && body && kind) {
      const parsed = readInferenceBody(kind, parseJsonObject(body));
      stream = parsed.stream;
      const ids = this.tokenize(parsed);
      request = {
        id,
        arrivalS,
        inputTokens: Math.max(1, ids.length),
        outputTokens: parsed.maxTokens ?? this.o.defaultMaxTokens,
        prefix: { kind: 'tokens', ids },
        text: parsed.text,
        // x-slo-* headers override --slo target by target; the slo* policies rank by them.
        slo: effectiveSlo(this.o.slo, parseSloHeaders(req.headers)),
      };
    } else {
      if (body) parseJsonObject(body);
      request = { id, arrivalS, inputTokens: 1, outputTokens: 1 };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || FORWARD_SKIP.has(k) || (k === 'authorization' && this.apiKey)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const rid = headers['x-request-id'];
    if (rid === undefined || rid.length > 200) headers['x-request-id'] = `req-${n}`;
    const job = new Job(this, res, route, req.method ?? 'POST', path, headers, body, request, stream, arrivalS, this.o.requestTimeoutMs);
    if (this.tracing.enabled) job.trace = this.tracing.request(id, job.method, path, req.headers);
    this.jobs.set(id, job);
    this.totals.requests++;
    if (this.recorder && route === 'inference') this.recordSeq.set(id, this.recorder.arrive());
    job.queued = true;
    this.route(job);
  }

  // ---- Admin API ---------------------------------------------------------------------------

  private admin(req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    if (!this.adminKey) throw new HttpError(403, 'admin API is disabled: start serve with --admin-key', 'admin_disabled');
    if (!this.adminKey.accepts(req)) throw new HttpError(401, 'missing or invalid admin key (expected "Authorization: Bearer <admin key>")', 'invalid_admin_key', null, { 'www-authenticate': 'Bearer' });
    if (path === '/workers') {
      if (method === 'GET') { sendJson(res, method, ['GET'], 200, { workers: this.workers.filter((w) => !w.removed).map(workerJson) }); return; }
      if (method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
      readBody(req, 64 * 1024).then(
        (body) => {
          try {
            let spec: WorkerSpec;
            try {
              spec = { ...workerFromObject(parseJsonObject(body), 'body'), source: 'admin' };
            } catch (err) {
              if (err instanceof UserError) throw new HttpError(400, err.message, 'invalid_worker');
              throw err;
            }
            const w = this.addWorker(spec);
            sendJson(res, 'POST', ['POST'], 201, workerJson(w));
          } catch (err) {
            this.answerError(req, res, path, err);
          }
        },
        (err: unknown) => this.answerError(req, res, path, err),
      );
      return;
    }
    const key = decodeURIComponent(path.slice('/workers/'.length));
    const w = this.workers.find((x) => !x.removed && (x.name === key || x.spec.url === key || String(x.view.id) === key));
    if (!w) throw new HttpError(404, `no worker "${key.slice(0, 200)}" (give its name, id or URL)`, 'worker_not_found');
    if (method === 'GET') { sendJson(res, method, ['GET'], 200, workerJson(w)); return; }
    if (method !== 'DELETE') throw methodNotAllowed(['GET', 'DELETE']);
    this.removeWorker(w);
    sendJson(res, method, ['DELETE'], 200, { removed: workerJson(w) });
  }

  // ---- Shutdown ----------------------------------------------------------------------------

  private drained?: () => void;

  /** Stops accepting, lets in-flight requests finish up to the drain deadline, then closes. */
  async shutdown(): Promise<{ drained: boolean; cut: number }> {
    if (this.draining) return { drained: false, cut: 0 };
    this.draining = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    let cut = 0;
    if (this.jobs.size > 0) {
      const done = new Promise<boolean>((resolve) => {
        this.drained = () => resolve(true);
        setTimeout(() => resolve(false), this.o.drainTimeoutMs).unref();
      });
      if (!(await done)) {
        cut = this.jobs.size;
        for (const j of [...this.jobs.values()]) j.forceEnd();
        this.router.rejectWaiting('server is shutting down');
      }
    }
    this.log.flush();
    // Let the final writes reach their sockets before closing what is left.
    await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
    for (const w of this.workers) w.stop();
    if (this.queueTimer) clearTimeout(this.queueTimer);
    await Promise.all(this.workers.map((w) => w.pool.close().catch(() => undefined)));
    this.recorder?.close();
    this.log.flush();
    await this.tracing.shutdown();
    return { drained: cut === 0, cut };
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function workerJson(w: ServeWorker): Record<string, unknown> {
  const v = w.view;
  return {
    id: v.id,
    index: v.index,
    name: w.name,
    url: w.spec.url,
    gpu: v.gpu,
    profile: v.profile,
    model: v.model,
    cost_usd_per_hour: v.costUsdPerHour,
    healthy: v.healthy,
    health_check_ok: w.healthOk,
    breaker: w.breaker.state,
    in_flight: v.inFlight,
    in_prefill: v.inPrefill,
    kv_capacity_tokens: v.kvCapacityTokens ?? null,
    scraped: v.scraped ?? null,
    scrape_error: w.lastScrapeError ?? null,
    source: w.spec.source ?? 'static',
    ...(w.spec.pod !== undefined ? { pod: w.spec.pod, role: w.spec.role ?? null, drained: w.drained } : {}),
  };
}

function methodNotAllowed(allowed: string[]): HttpError {
  return new HttpError(405, `method not allowed (allowed: ${allowed.join(', ')})`, 'method_not_allowed', null, { allow: allowed.join(', ') });
}

function sendJson(res: ServerResponse, method: string, allowed: string[], status: number, body: unknown): void {
  if (!allowed.includes(method)) throw methodNotAllowed(allowed);
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(method === 'HEAD' ? undefined : text);
}

/** Reads a request body up to `limit` bytes; larger bodies are refused with 413 as soon as seen. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, 'payload_too_large'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`, 'payload_too_large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) {
        failed = true;
        reject(new HttpError(400, `could not read the request body (${err.message})`, 'bad_body'));
      }
    });
  });
}
