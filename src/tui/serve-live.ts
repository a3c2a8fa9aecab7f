import type { LiveSnapshot } from '../serve/snapshot.js';
import type { RollingPercentiles } from './rolling.js';
import type { ServeDashboardSnapshot } from './serve-dashboard.js';

/** Seconds over which the request rate is averaged. */
const RATE_WINDOW_S = 5;

function pctOf(r: LiveSnapshot['latencyMs']['ttft']): RollingPercentiles {
  return r ? { p50: r.p50, p99: r.p99 } : { p50: NaN, p99: NaN };
}

/**
 * Turns `ServeApp.snapshot()` (serve's `LiveSnapshot`) into dashboard frames: ages of scrapes,
 * the request rate over the last few seconds, draining status. Call the returned function once per
 * frame (pass it as `startServeDashboard({ snapshot })`).
 */
export function serveDashboardFeed(source: { snapshot(): LiveSnapshot }, listen: string): () => ServeDashboardSnapshot {
  let startedAtS = NaN;
  const samples: { atS: number; requests: number }[] = [];
  return () => {
    const live = source.snapshot();
    if (Number.isNaN(startedAtS)) startedAtS = live.atS;
    samples.push({ atS: live.atS, requests: live.totals.requests });
    while (samples.length > 2 && live.atS - samples[1].atS >= RATE_WINDOW_S) samples.shift();
    const first = samples[0];
    const dt = live.atS - first.atS;
    const l = live.latencyMs;
    return {
      listen,
      policy: live.policy,
      uptimeS: live.atS - startedAtS,
      inFlight: live.inFlight,
      queued: live.queueLength,
      requests: live.totals.requests,
      errors: live.totals.errors,
      retries: live.totals.retries,
      rejected: live.totals.rejected,
      requestsPerS: dt > 0 ? (live.totals.requests - first.requests) / dt : 0,
      workers: live.workers.map((w) => ({
        name: w.name,
        url: w.url,
        healthy: w.healthy,
        breaker: w.breaker,
        inFlight: w.inFlight,
        scraped: w.scraped
          ? { running: w.scraped.running, waiting: w.scraped.waiting, kvUsage: w.scraped.kvUsage, prefixHitRate: w.scraped.prefixHitRate, ageS: Math.max(0, live.atS - w.scraped.atS) }
          : null,
        served: w.served,
        errors: w.errors,
      })),
      rolling: {
        count: Math.max(l.ttft?.count ?? 0, l.tpot?.count ?? 0, l.e2e?.count ?? 0),
        ttftMs: pctOf(l.ttft),
        tpotMs: pctOf(l.tpot),
        e2eMs: pctOf(l.e2e),
      },
      status: live.draining ? 'draining' : undefined,
    };
  };
}
