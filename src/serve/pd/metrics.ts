import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ServeWorker } from '../worker.js';

/** Prefill round trips (vLLM: request sent → kv_transfer_params back), seconds. */
const PREFILL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40];

/** Disaggregation's own series on serve's `/metrics` (the decode pool's are serve's usual ones). */
export class PdMetrics {
  readonly requests: Counter<'path'>;
  readonly prefillRetries: Counter;
  readonly pairAborts: Counter;
  readonly prefillFailures: Counter<'worker'>;
  readonly prefillSeconds: Histogram;

  constructor(registry: Registry, prefillWorkers: () => readonly ServeWorker[]) {
    const registers = [registry];
    this.requests = new Counter({ name: 'router_pd_requests_total', help: 'Requests by PD path: disaggregated (a prefill worker, then the decode worker) or local (the decode worker prefilled, --pd-threshold)', labelNames: ['path'], registers });
    this.prefillRetries = new Counter({ name: 'router_pd_prefill_retries_total', help: 'Prefill calls retried on another prefill worker', registers });
    this.pairAborts = new Counter({ name: 'router_pd_pair_aborts_total', help: 'SGLang decode attempts cut because their prefill failed (the pair re-runs)', registers });
    this.prefillFailures = new Counter({ name: 'router_pd_prefill_failures_total', help: 'Failed prefill calls by prefill worker', labelNames: ['worker'], registers });
    this.prefillSeconds = new Histogram({ name: 'router_pd_prefill_seconds', help: 'Prefill call duration (vLLM: until kv_transfer_params came back; SGLang: until the prefill answer was read)', buckets: PREFILL_BUCKETS, registers });
    const inFlight = new Gauge({
      name: 'router_pd_prefill_worker_in_flight',
      help: 'Prefill calls in flight per prefill worker',
      labelNames: ['worker'],
      registers,
      collect() {
        inFlight.reset();
        for (const w of prefillWorkers()) inFlight.set({ worker: w.name }, w.view.inFlight);
      },
    });
    const healthy = new Gauge({
      name: 'router_pd_prefill_worker_healthy',
      help: '1 when the prefill worker takes traffic',
      labelNames: ['worker'],
      registers,
      collect() {
        healthy.reset();
        for (const w of prefillWorkers()) healthy.set({ worker: w.name }, w.view.healthy ? 1 : 0);
      },
    });
  }
}
