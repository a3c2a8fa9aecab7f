import { Pool } from 'undici';
import type { ScrapedMetrics, WorkerView } from '../routing/types.js';
import { CircuitBreaker, type BreakerOptions } from './circuit-breaker.js';
import { EngineMetricsReader } from './engine-metrics.js';
import type { WorkerSpec } from './worker-spec.js';

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
}

/**
 * One upstream engine: its keep-alive pool, circuit breaker, health state and the view the Router
 * reads. `view.healthy` is the single "may take new requests" flag the policies see: health
 * checks pass, the breaker allows, and the worker has not been removed.
 */
export class ServeWorker {
  readonly view: LiveWorkerView;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker;
  /** URL path prefix of the worker (usually empty). */
  readonly basePath: string;
  healthOk = true;
  removed = false;
  /** Out of rotation while its pod is not Ready (discovery); in-flight requests finish. */
  drained = false;
  private healthFails = 0;
  private healthPasses = 0;
  private reopenTimer?: NodeJS.Timeout;
  private timers: NodeJS.Timeout[] = [];
  private readonly reader = new EngineMetricsReader();
  lastScrapeError?: string;

  constructor(
    readonly spec: WorkerSpec,
    private readonly o: WorkerRuntimeOptions,
    private readonly onScrape: (w: ServeWorker, m: ScrapedMetrics) => void,
    /** Called when the worker starts taking requests again (pull mode retries its queue). */
    private readonly onAvailable: () => void = () => undefined,
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
    this.breaker = new CircuitBreaker(o.breaker, o.nowS);
    // id and slot are assigned when the server registers the view with its Router.
    this.view = {
      name: spec.name ?? `${u.host}${this.basePath}`,
      url: spec.url,
      gpu: spec.gpu ?? 'unknown',
      model: spec.model ?? 'unknown',
      profile: spec.profile ?? 'unknown',
      costUsdPerHour: spec.costUsdPerHour ?? 0,
      healthy: true,
      inFlight: 0,
      inFlightPromptTokens: 0,
      inPrefill: 0,
    } as LiveWorkerView;
  }

  get name(): string {
    return this.view.name;
  }

  /** Recomputes `view.healthy`; an open breaker schedules the moment it may probe again. */
  refresh(): void {
    const was = this.view.healthy;
    this.view.healthy = !this.removed && !this.drained && this.healthOk && this.breaker.allows();
    if (this.view.healthy && !was) this.onAvailable();
    if (this.breaker.state === 'open' && !this.reopenTimer && !this.removed) {
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        this.refresh();
      }, Math.ceil(this.breaker.reopensInS() * 1000) + 1);
      this.reopenTimer.unref();
    }
  }

  /** Starts health checks (the first at once) and metric scraping. */
  start(): void {
    const h = this.o.health;
    if (h.intervalMs > 0) {
      void this.checkHealth();
      this.timers.push(setInterval(() => void this.checkHealth(), h.intervalMs).unref());
    }
    if (this.o.scrapeIntervalMs > 0) {
      void this.scrape();
      this.timers.push(setInterval(() => void this.scrape(), this.o.scrapeIntervalMs).unref());
    }
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
    try {
      ok = (await this.get(h.path, h.timeoutMs)).status < 300;
    } catch {
      ok = false;
    }
    if (ok) {
      this.healthFails = 0;
      if (!this.healthOk && ++this.healthPasses >= h.successThreshold) this.healthOk = true;
    } else {
      this.healthPasses = 0;
      if (this.healthOk && ++this.healthFails >= h.failureThreshold) this.healthOk = false;
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
      this.onScrape(this, s.metrics);
    } catch (err) {
      this.lastScrapeError = (err as Error).message;
    }
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
    this.reopenTimer = undefined;
  }
}
