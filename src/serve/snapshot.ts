import type { Percentiles } from '../util/stats.js';
import type { ScrapedMetrics } from '../routing/types.js';
import type { BreakerState } from './circuit-breaker.js';
import type { RollingWindow } from './rolling.js';
import type { ServeWorker } from './worker.js';

type Rolling = (Percentiles & { count: number }) | null;

/** Live state of a running serve, for the dashboard and `GET /workers`-style views. */
export interface LiveSnapshot {
  atS: number;
  policy: string;
  draining: boolean;
  queueLength: number;
  inFlight: number;
  totals: { requests: number; errors: number; retries: number; rejected: number };
  workers: {
    index: number;
    name: string;
    url: string;
    gpu: string;
    healthy: boolean;
    healthCheckOk: boolean;
    breaker: BreakerState;
    inFlight: number;
    inPrefill: number;
    scraped: ScrapedMetrics | null;
    scrapeError: string | null;
    /** Requests the worker answered, and failed attempts on it, since it joined. */
    served: number;
    errors: number;
  }[];
  /** Rolling percentiles over the last window, in milliseconds; null when no sample. */
  latencyMs: { ttft: Rolling; tpot: Rolling; e2e: Rolling };
}

export interface SnapshotSource {
  nowS(): number;
  readonly workers: readonly ServeWorker[];
  readonly router: { policyName: string; inFlightTotal: number };
  readonly draining: boolean;
  readonly totals: LiveSnapshot['totals'];
  queueLength(): number;
}

export function liveSnapshot(s: SnapshotSource, rolling: { ttft: RollingWindow; tpot: RollingWindow; e2e: RollingWindow }): LiveSnapshot {
  const now = s.nowS();
  return {
    atS: now,
    policy: s.router.policyName,
    draining: s.draining,
    queueLength: s.queueLength(),
    inFlight: s.router.inFlightTotal,
    totals: { ...s.totals },
    workers: s.workers.map((w) => ({
        index: w.view.index,
        name: w.name,
        url: w.spec.url,
        gpu: w.view.gpu,
        healthy: w.view.healthy,
        healthCheckOk: w.healthOk,
        breaker: w.breaker.state,
        inFlight: w.view.inFlight,
        inPrefill: w.view.inPrefill,
        scraped: w.view.scraped ? { ...w.view.scraped } : null,
        scrapeError: w.lastScrapeError ?? null,
        served: w.served,
        errors: w.errors,
      })),
    latencyMs: {
      ttft: rolling.ttft.stats(now) ?? null,
      tpot: rolling.tpot.stats(now) ?? null,
      e2e: rolling.e2e.stats(now) ?? null,
    },
  };
}
