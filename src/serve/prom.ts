import { Counter, Gauge, Registry } from 'prom-client';
import { LeanHistogram } from './prom-histogram.js';
import type { BreakerState } from './circuit-breaker.js';

/** What the metrics read at scrape time instead of being pushed on every change. */
export interface LiveSource {
  workers(): readonly {
    name: string;
    view: { inFlight: number; healthy: boolean; scraped?: { running: number; waiting: number; kvUsage: number }; remote?: { inFlight: number } };
    breaker: { state: BreakerState };
    healthOk: boolean;
  }[];
  queueLength(): number;
  policyName(): string;
  branches(): ReadonlyMap<string, number>;
}

/** A hot-path count and how much of it prom-client's counter has been given. */
interface PendingCount {
  n: number;
  added: number;
}

const BREAKER_CODE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];
const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5];
const DECISION_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2];

/** serve's Prometheus metrics, in a registry of their own (no global state). */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly errors: Counter<'kind'>;
  readonly retries: Counter<'worker'>;
  /** Observed on every request: lean histograms (prom-histogram.ts), the same page as prom-client's. */
  readonly ttft: LeanHistogram;
  readonly tpot: LeanHistogram;
  readonly e2e: LeanHistogram;
  readonly decisionTime: LeanHistogram;
  readonly dispatches: Counter<'worker'>;

  /**
   * Hot-path counts, per label values, added to prom-client's counters when /metrics is read
   * (the `collect` hooks below): a request costs an increment here, not prom-client's label
   * hashing. The page is the same: a series appears once its count is above zero.
   */
  private readonly requestCounts = new Map<string, Map<number, PendingCount>>();
  /** The same counts in first-seen order, which is the order prom-client lists series in. */
  private readonly requestOrder: { route: string; status: string; c: PendingCount }[] = [];
  private readonly dispatchCounts = new Map<string, PendingCount>();

  countRequest(route: string, status: number): void {
    let byStatus = this.requestCounts.get(route);
    if (!byStatus) this.requestCounts.set(route, (byStatus = new Map<number, PendingCount>()));
    let c = byStatus.get(status);
    if (!c) {
      byStatus.set(status, (c = { n: 0, added: 0 }));
      this.requestOrder.push({ route, status: String(status), c });
    }
    c.n++;
  }

  countDispatch(worker: string): void {
    const c = this.dispatchCounts.get(worker);
    if (c) c.n++;
    else this.dispatchCounts.set(worker, { n: 1, added: 0 });
  }

  /** A removed worker leaves no label values behind (10,000 add/remove cycles must not grow the page). */
  forgetWorker(worker: string): void {
    this.dispatchCounts.delete(worker);
    this.dispatches.remove(worker);
    this.retries.remove(worker);
  }

  /** Label sets kept for the hot path (retained-state checks). */
  get cachedChildren(): number {
    let n = this.dispatchCounts.size;
    for (const m of this.requestCounts.values()) n += m.size;
    return n;
  }

  constructor(src: LiveSource) {
    const registers = [this.registry];
    const requestOrder = this.requestOrder;
    const dispatchCounts = this.dispatchCounts;
    this.requests = new Counter({
      name: 'router_requests_total',
      help: 'Requests answered, by route and HTTP status',
      labelNames: ['route', 'status'],
      registers,
      collect() {
        for (const { route, status, c } of requestOrder) {
          if (c.n > c.added) this.inc({ route, status }, c.n - c.added);
          c.added = c.n;
        }
      },
    });
    this.errors = new Counter({ name: 'router_errors_total', help: 'Failures by kind (connect, timeout, upstream_status, midstream, client_abort, rejected, invalid)', labelNames: ['kind'], registers });
    this.retries = new Counter({ name: 'router_retries_total', help: 'Retries, by the worker that failed', labelNames: ['worker'], registers });
    this.dispatches = new Counter({
      name: 'router_dispatches_total',
      help: 'Upstream attempts started, by worker',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const [worker, c] of dispatchCounts) {
          if (c.n > c.added) this.inc({ worker }, c.n - c.added);
          c.added = c.n;
        }
      },
    });
    this.ttft = new LeanHistogram('router_ttft_seconds', 'Arrival to first response byte sent to the client', LATENCY_BUCKETS, this.registry);
    this.tpot = new LeanHistogram('router_tpot_seconds', 'Time per output token after the first', TPOT_BUCKETS, this.registry);
    this.e2e = new LeanHistogram('router_e2e_seconds', 'Arrival to last response byte', LATENCY_BUCKETS, this.registry);
    this.decisionTime = new LeanHistogram('router_routing_decision_seconds', 'Time spent in Router.submit (policy decision)', DECISION_BUCKETS, this.registry);

    const perWorker = (name: string, help: string, value: (w: ReturnType<LiveSource['workers']>[number]) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        collect() {
          this.reset();
          for (const w of src.workers()) {
            const v = value(w);
            if (v !== undefined) this.set({ worker: w.name }, v);
          }
        },
      });
    };
    perWorker('router_worker_in_flight', 'Requests the router has in flight on the worker', (w) => w.view.inFlight - (w.view.remote?.inFlight ?? 0));
    perWorker('router_worker_healthy', '1 when the worker takes traffic (health checks pass and the breaker allows)', (w) => (w.view.healthy ? 1 : 0));
    perWorker('router_worker_health_check_ok', '1 when the last health checks passed', (w) => (w.healthOk ? 1 : 0));
    perWorker('router_worker_breaker_state', 'Circuit breaker: 0 closed, 1 open, 2 half-open', (w) => BREAKER_CODE[w.breaker.state]);
    perWorker('router_worker_engine_running', 'Engine running requests, as last scraped', (w) => w.view.scraped?.running);
    perWorker('router_worker_engine_waiting', 'Engine waiting requests, as last scraped', (w) => w.view.scraped?.waiting);
    perWorker('router_worker_engine_kv_usage', 'Engine KV-cache usage 0..1, as last scraped', (w) => w.view.scraped?.kvUsage);
    new Gauge({
      name: 'router_queue_length',
      help: 'Requests submitted to the router and not yet dispatched',
      registers,
      collect() {
        this.set(src.queueLength());
      },
    });
    const seen = new Map<string, number>();
    new Counter({
      name: 'router_policy_decisions_total',
      help: 'Policy decisions by branch',
      labelNames: ['policy', 'branch'],
      registers,
      collect() {
        for (const [branch, n] of src.branches()) {
          const d = n - (seen.get(branch) ?? 0);
          if (d > 0) this.inc({ policy: src.policyName(), branch }, d);
          seen.set(branch, n);
        }
      },
    });
  }
}
