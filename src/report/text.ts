import type { Summary } from '../metrics/summary.js';
import type { Percentiles } from '../util/stats.js';

function fmt(v: number | null, digits = 1): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ')).join('\n');
}

/** The printed summary: latency percentiles, then throughput, SLO, cache, balance and cost. */
export function formatSummary(s: Summary): string {
  const lat = (name: string, p: Percentiles): string[] => [name, fmt(p.mean), fmt(p.p50), fmt(p.p90), fmt(p.p99)];
  const lines: string[] = [];
  lines.push(`policy ${s.policy}: ${s.completed}/${s.requests} completed, ${s.rejected} rejected${s.rejected_429 ? ` (${s.rejected_429} by the router queue, 429)` : ''}, ${fmt(s.duration_s, 1)} s simulated in ${fmt(s.wall_s, 2)} s`);
  lines.push('');
  lines.push(table([
    ['latency (ms)', 'mean', 'p50', 'p90', 'p99'],
    lat('TTFT', s.ttft_ms),
    lat('TPOT', s.tpot_ms),
    lat('E2E', s.e2e_ms),
    lat('queue', s.queue_ms),
  ]));
  lines.push('');
  const kv: [string, string][] = [
    ['throughput', `${fmt(s.throughput_rps, 2)} req/s, ${fmt(s.output_tokens_per_s, 0)} output tok/s`],
    ['goodput', s.goodput_rps === null ? '- (no --slo given)' : `${fmt(s.goodput_rps, 2)} req/s`],
    ['SLO attainment', s.slo_attainment === null ? '- (no --slo given)' : `${fmt(s.slo_attainment * 100, 1)}%${s.slo ? ` (SLO ${s.slo})` : ''}`],
    ['prefix hit rate', `${fmt(s.prefix_hit_rate * 100, 1)}%`],
    ['imbalance', `${fmt(s.imbalance, 2)} (max/mean requests per worker)`],
    ['cost', Number.isFinite(s.cost_usd) ? `$${fmt(s.cost_usd, 4)} ($${fmt(s.cost_per_1m_tokens_usd, 3)} per 1M tokens)` : '- (unknown: no GPU prices for these workers)'],
  ];
  const w = Math.max(...kv.map(([k]) => k.length));
  for (const [k, v] of kv) lines.push(`${k.padEnd(w)}  ${v}`);
  if (s.slo_classes && s.slo_classes.length > 1) {
    lines.push('');
    lines.push(table([
      ['SLO class', 'requests', 'met', 'rejected', 'attainment', 'goodput req/s'],
      ...s.slo_classes.map((c) => [c.slo_class, String(c.requests), String(c.met), String(c.rejected), `${fmt(c.slo_attainment * 100, 1)}%`, fmt(c.goodput_rps, 2)]),
    ]));
  }
  lines.push('');
  lines.push(table([
    ['worker', 'gpu', 'requests', 'hit rate', 'preempt', 'cost $'],
    ...s.workers.map((x) => [x.name, x.gpu, String(x.requests), `${fmt(x.prefix_hit_rate * 100, 1)}%`, String(x.preemptions), fmt(x.cost_usd, 4)]),
  ]));
  return lines.join('\n');
}

/** JSON summary with NaN as null (JSON has no NaN). */
export function summaryJson(s: Summary): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
