import { Pool } from 'undici';
import { modelAliases } from './models.js';
import type { ScrapedMetrics, WorkerView } from '../routing/types.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './circuit-breaker.js';
import { EngineMetricsReader } from './engine-metrics.js';
import { SlotSet, type Slotted } from '../util/slot-set.js';
import type { WorkerSpec } from './worker-spec.js';
import { DEFAULTS } from '../defaults.js';
import { H1Pool, type UpstreamHandler, type UpstreamRequest } from './upstream/h1-pool.js';

/** The router-side view of a live worker; serve owns it, so its "readonly" facts may be learned late. */
export interface LiveWorkerView extends WorkerView {
  kvCapacityTokens?: number;
  blockSize?: number;
}

export interface WorkerRuntimeOptions {
  breaker: BreakerOptions;
  connections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  health: { path: string; intervalMs: number; timeoutMs: number; failureThreshold: number; successThreshold: number };
  /** 0 disables scraping. */
  scrapeIntervalMs: number;
  nowS: () => number;
  /** Client of the attempts to http: workers (https: ones always use undici). */
  upstreamClient?: 'h1' | 'undici';
}

/** What a worker tells the fleet around it. */
export interface WorkerEvents {
  /** `admitted` may have changed: the fleet recomputes who takes traffic (and fail-open). */
  admissionChanged(w: ServeWorker): void;
  scraped(w: ServeWorker, m: ScrapedMetrics): void;
  /** One line for the operator (health and breaker transitions). */
  note(line: string): void;
}

/** An attempt in flight on this worker, as far as stall detection needs it (`slot`: its place in `active`). */
export interface ActiveAttempt extends Slotted {
  abortStalled(): void;
}

/**
 * One upstream engine: its keep-alive pool, circuit breaker, health state and the view the Router
 * reads. `admitted` = health checks pass and the breaker allows; `view.healthy` (what policies
 * see) is set by the fleet, which fails open to every worker passing health checks when no
 * worker is admitted.
 *
 * A worker whose health checks are on starts unhealthy and is admitted once a check passes.
 * A passing health check also turns a breaker that errors opened half-open (like Envoy's
 * `successful_active_health_check_uneject_host`, but a probe request still decides, so a worker
 * that answers /health and fails every completion does not flap back in); while the breaker is
 * open the worker's health is checked early (from 0.5 s, doubling up to the health interval), so
 * a restarted worker is back within about a second rather than after `--breaker-open`. A breaker opened because the worker stalled
 * is not closed by health checks (a stalled engine still answers /health): it waits out
 * `--breaker-open` and a half-open probe request.
 */
export class ServeWorker {
  readonly view: LiveWorkerView;
  /** undici's pool: health checks, scrapes, PD prefill calls, and attempts to https: workers. */
  readonly pool: Pool;
  /** The lean HTTP/1.1 pool the attempts to an http: worker go through (src/serve/upstream). */
  private readonly h1?: H1Pool;
  readonly breaker: CircuitBreaker;
  /** URL path prefix of the worker (usually empty). */
  readonly basePath: string;
  healthOk: boolean;
  admitted = false;
  removed = false;
  /** Out of rotation (admin drain, or its pod is not Ready under discovery); in-flight requests finish. */
  drained = false;
  /** Requests that ended on this worker, and those that ended with an error attributed to it. */
  served = 0;
  errors = 0;
  private everHealthy = false;
  /** Breaker state last reported to the operator. */
  private noted: BreakerState = 'closed';
  private healthFails = 0;
  private healthPasses = 0;
  private lastHealthError?: string;
  private reopenTimer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private probeDelayMs = 500;
  private timers: NodeJS.Timeout[] = [];
  private readonly reader = new EngineMetricsReader();
  lastScrapeError?: string;
  /** Attempts in flight here, for stall detection. */
  readonly active = new SlotSet<ActiveAttempt>();
  /** Last time an upstream byte, head or completion came from this worker (clock seconds). */
  lastProgressS = 0;
  /** When `active` last went from empty to non-empty. */
  busySinceS = 0;
  private readonly onReopen = (): void => {
    this.reopenTimer = undefined;
    this.refresh();
  };
  private readonly onProbe = (): void => {
    this.probeTimer = undefined;
    void this.checkHealth();
  };

  constructor(
    readonly spec: WorkerSpec,
    private readonly o: WorkerRuntimeOptions,
    private readonly events: WorkerEvents,
  ) {
    const u = new URL(spec.url);
    this.basePath = u.pathname === '/' ? '' : u.pathname;
    this.pool = new Pool(u.origin, {
      connections: o.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: o.idleTimeoutMs,
      bodyTimeout: o.idleTimeoutMs,
      connect: { timeout: o.connectTimeoutMs },
    });
    if (u.protocol === 'http:' && (o.upstreamClient ?? DEFAULTS.serve.upstreamClient) === 'h1') {
      this.h1 = new H1Pool(u.origin, {
        connections: o.connections,
        keepAliveTimeoutMs: 30_000,
        headersTimeoutMs: o.idleTimeoutMs,
        bodyTimeoutMs: o.idleTimeoutMs,
        connectTimeoutMs: o.connectTimeoutMs,
      });
    }
    this.breaker = new CircuitBreaker(o.breaker, o.nowS);
    this.healthOk = o.health.intervalMs <= 0;
    const aliases: readonly string[] = modelAliases(spec.model);
    // id and slot are assigned when the server registers the view with its Router.
    this.view = {
      name: spec.name ?? `${u.host}${this.basePath}`,
      url: spec.url,
      gpu: spec.gpu ?? 'unknown',
      model: spec.model ?? 'unknown',
      modelAliases: aliases,
      profile: spec.profile ?? 'unknown',
      costUsdPerHour: spec.costUsdPerHour ?? 0,
      healthy: false,
      inFlight: 0,
      inFlightPromptTokens: 0,
      inPrefill: 0,
    } as LiveWorkerView;
    this.admitted = this.healthOk;
  }

  get name(): string {
    return this.view.name;
  }

  /** Sends one attempt upstream (the handler hears of its response in undici's handler shape). */
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.h1) this.h1.dispatch(req, handler);
    else this.pool.dispatch(req, handler);
  }

  /** Closes the worker's connections once the requests on them end. */
  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.h1?.close()]);
  }

  /** Recomputes `admitted`; an open breaker schedules the moment it may probe again. */
  refresh(): void {
    const was = this.admitted;
    this.admitted = !this.removed && !this.drained && this.healthOk && this.breaker.allows();
    if (this.breaker.state !== this.noted) {
      this.noteBreaker(this.noted);
      this.noted = this.breaker.state;
    }
    if (this.breaker.state === 'open' && !this.removed) {
      if (!this.reopenTimer) this.reopenTimer = setTimeout(this.onReopen, Math.ceil(this.breaker.reopensInS() * 1000) + 1).unref();
      if (!this.probeTimer && this.breaker.openedBy === 'errors' && this.o.health.intervalMs > 0) {
        this.probeTimer = setTimeout(this.onProbe, this.probeDelayMs).unref();
        this.probeDelayMs = Math.min(this.probeDelayMs * 2, Math.max(500, this.o.health.intervalMs));
      }
    } else {
      this.probeDelayMs = 500;
    }
    if (this.admitted !== was) this.events.admissionChanged(this);
  }

  private noteBreaker(from: BreakerState): void {
    const to = this.breaker.state;
    if (to === 'open') this.events.note(`worker ${this.name} ejected: circuit breaker open (${this.breaker.openedBy === 'stalled' ? 'stalled: no byte while other workers answered' : `${this.breaker.consecutiveFailures} consecutive failures`})`);
    else if (to === 'closed' && from !== 'closed') this.events.note(`worker ${this.name} readmitted: circuit breaker closed`);
  }

  /** Starts health checks (the first at once) and metric scraping; resolves after the first check. */
  start(): Promise<void> {
    const h = this.o.health;
    let first = Promise.resolve();
    if (h.intervalMs > 0) {
      first = this.checkHealth();
      this.timers.push(setInterval(() => void this.checkHealth(), h.intervalMs).unref());
    }
    if (this.o.scrapeIntervalMs > 0) {
      void this.scrape();
      this.timers.push(setInterval(() => void this.scrape(), this.o.scrapeIntervalMs).unref());
    }
    return first;
  }

  private authHeaders(): Record<string, string> {
    return this.spec.apiKey ? { authorization: `Bearer ${this.spec.apiKey}` } : {};
  }

  private async get(path: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    const r = await this.pool.request({
      method: 'GET',
      path: this.basePath + path,
      headers: this.authHeaders(),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return { status: r.statusCode, text: await r.body.text() };
  }

  async checkHealth(): Promise<void> {
    if (this.removed) return;
    const h = this.o.health;
    let ok: boolean;
    let why = '';
    try {
      const r = await this.get(h.path, h.timeoutMs);
      ok = r.status < 300;
      if (!ok) why = `HTTP ${r.status}`;
    } catch (err) {
      ok = false;
      why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    if (this.removed) return;
    if (ok) {
      this.healthFails = 0;
      this.lastHealthError = undefined;
      // A new worker is admitted on its first pass; one that went unhealthy needs the threshold.
      const need = this.everHealthy ? h.successThreshold : 1;
      if (!this.healthOk && ++this.healthPasses >= need) {
        this.healthOk = true;
        this.everHealthy = true;
        this.events.note(`worker ${this.name} healthy: ${h.path} passed ${need} check(s)`);
      }
      if (this.healthOk && this.breaker.openedBy === 'errors') this.breaker.probeNow();
    } else {
      this.healthPasses = 0;
      if (this.healthOk && ++this.healthFails >= h.failureThreshold) {
        this.healthOk = false;
        this.events.note(`worker ${this.name} unhealthy: ${h.path} failed ${h.failureThreshold} check(s) (${why})`);
      } else if (!this.healthOk && why !== this.lastHealthError) {
        this.events.note(`worker ${this.name} still unhealthy: ${h.path} ${why}`);
      }
      this.lastHealthError = why;
    }
    this.refresh();
  }

  async scrape(): Promise<void> {
    if (this.removed) return;
    try {
      const r = await this.get('/metrics', Math.max(1000, this.o.scrapeIntervalMs));
      if (r.status !== 200) {
        this.lastScrapeError = `HTTP ${r.status}`;
        return;
      }
      const s = this.reader.read(r.text, this.o.nowS());
      if (!s) {
        this.lastScrapeError = 'no known engine metrics on the page';
        return;
      }
      this.lastScrapeError = undefined;
      if (s.kvCapacityTokens !== undefined) this.view.kvCapacityTokens = s.kvCapacityTokens;
      if (s.blockSize !== undefined) this.view.blockSize = s.blockSize;
      if (!this.removed) this.events.scraped(this, s.metrics);
    } catch (err) {
      this.lastScrapeError = (err as Error).message;
    }
  }

  attemptStarted(a: ActiveAttempt): void {
    if (this.active.size === 0) this.busySinceS = this.o.nowS();
    this.active.add(a);
    this.breaker.onSend();
    this.refresh();
  }

  attemptEnded(a: ActiveAttempt): void {
    this.active.delete(a);
  }

  /** `nowS`: the caller's clock reading when it has one (one clock read per event, not per call). */
  progress(nowS = this.o.nowS()): void {
    this.lastProgressS = nowS;
  }

  /** Seconds this worker has had attempts in flight without sending a byte (0 when idle). */
  silenceS(nowS: number): number {
    return this.active.size === 0 ? 0 : nowS - Math.max(this.lastProgressS, this.busySinceS);
  }

  /** Stall detection found the worker silent: eject it and cut what it holds (retried elsewhere). */
  ejectStalled(): void {
    this.breaker.trip('stalled');
    this.refresh();
    for (const a of this.active.toArray()) a.abortStalled();
  }

  /** Takes the worker out of rotation for good; in-flight requests finish, then the pool closes. */
  retire(): void {
    this.removed = true;
    this.stop();
    this.refresh();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.reopenTimer = undefined;
    this.probeTimer = undefined;
  }
}
