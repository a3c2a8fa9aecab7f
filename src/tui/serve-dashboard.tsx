import { Box, Text } from 'ink';
import type { RollingLatency } from './rolling.js';
import type { BreakerState } from '../serve/circuit-breaker.js';
import type { ScrapedMetrics as RouterScrapedMetrics } from '../routing/types.js';
import { LatencyTable } from './sim-dashboard.js';
import { alignRows, bar, duration, num, pct } from './format.js';

// The real types, not copies: the dashboard shows what the router and its breakers hold.
export type { BreakerState };

/** What the router last scraped from a worker's /metrics, and how old it is (instead of when). */
export type ScrapedMetrics = Omit<RouterScrapedMetrics, 'atS'> & { ageS: number };

export interface ServeWorkerRow {
  name: string;
  url: string;
  healthy: boolean;
  breaker: BreakerState;
  /** Router-side count of requests sent and not yet finished. */
  inFlight: number;
  /** null until the first successful scrape. */
  scraped: ScrapedMetrics | null;
  /** Requests this worker answered and errors it gave, when the server counts them per worker. */
  served?: number;
  errors?: number;
}

/**
 * The live view of `router serve --dashboard`. The server builds one of these whenever the
 * dashboard asks (a few times a second), from state it already keeps; nothing is computed per request
 * beyond `LatencyWindow.record`.
 */
export interface ServeDashboardSnapshot {
  listen: string;
  policy: string;
  uptimeS: number;
  inFlight: number;
  /** Requests waiting in the router's queue (pull mode). */
  queued: number;
  /** Totals since start: requests received, upstream errors, retries, rejections. */
  requests: number;
  errors: number;
  retries: number;
  rejected: number;
  /** Requests received per second over the last few seconds. */
  requestsPerS: number;
  workers: ServeWorkerRow[];
  /** Rolling TTFT/TPOT/E2E percentiles, e.g. from `LatencyWindow.latency()`. */
  rolling: RollingLatency;
  /** Shown when the server is draining or stopping. */
  status?: string;
}

function breakerColor(b: BreakerState): string {
  return b === 'closed' ? 'green' : b === 'open' ? 'red' : 'yellow';
}

export function ServeDashboard({ s, color, refreshMs, paused }: { s: ServeDashboardSnapshot; color: boolean; refreshMs: number; paused?: boolean }) {
  const rows = alignRows([
    ['worker', 'health', 'breaker', 'in flight', 'run', 'wait', 'KV usage', '', 'hit rate', 'age', 'served', 'errors'],
    ...s.workers.map((w) => [
      w.name,
      w.healthy ? 'up' : 'DOWN',
      w.breaker,
      String(w.inFlight),
      w.scraped ? String(w.scraped.running) : '-',
      w.scraped ? String(w.scraped.waiting) : '-',
      bar(w.scraped?.kvUsage ?? NaN, 8),
      pct(w.scraped?.kvUsage),
      pct(w.scraped?.prefixHitRate),
      w.scraped ? `${num(w.scraped.ageS)}s` : 'never',
      w.served === undefined ? '-' : String(w.served),
      w.errors === undefined ? '-' : String(w.errors),
    ]),
  ], 3);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold color={color ? 'cyan' : undefined}>
          router serve
        </Text>{' '}
        · {s.listen} · policy {s.policy} · up {duration(s.uptimeS)}
        {s.status ? ` · ${s.status}` : ''}
        {paused ? ' · display PAUSED' : ''} · refresh {refreshMs} ms
      </Text>
      <Text>
        requests: {s.requests} · {num(s.requestsPerS)} req/s · {s.inFlight} in flight · {s.queued} queued · {s.errors} errors · {s.retries} retries ·{' '}
        {s.rejected} rejected
      </Text>
      <Text> </Text>
      <Text bold wrap="truncate-end">{rows[0]}</Text>
      {rows.slice(1).map((r, i) => {
        const w = s.workers[i];
        const tone = !w.healthy ? 'red' : breakerColor(w.breaker);
        return (
          <Text key={w.name} color={color ? tone : undefined} wrap="truncate-end">
            {r}
          </Text>
        );
      })}
      <Text> </Text>
      <LatencyTable rolling={s.rolling} sloAttainment={null} showSlo={false} />
      <Text dimColor>keys: q quit · p pause display · + faster refresh · - slower refresh</Text>
    </Box>
  );
}
