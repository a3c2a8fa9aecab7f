import type { RequestLog } from '../metrics/request-log.js';
import type { LatencyStats, Summary } from '../metrics/summary.js';
import { pdSummaryLines } from './pd-text.js';
import { groupTables } from './group-table.js';

function fmt(v: number | null, digits = 1): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

/** A latency cell: ms, or seconds once the value passes 10,000 ms (long E2E and queue times read better). */
export function latencyCell(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return Math.abs(ms) > 10_000 ? `${(ms / 1e3).toFixed(2)} s` : ms.toFixed(1);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ')).join('\n');
}

/** The printed summary: latency percentiles, then throughput, SLO, cache, balance and cost. */
export function formatSummary(s: Summary): string {
  const lat = (name: string, p: LatencyStats): string[] => [name, latencyCell(p.mean), latencyCell(p.p50), latencyCell(p.p90), latencyCell(p.p99), latencyCell(p.std)];
  const lines: string[] = [];
  const unfinished = s.unfinished > 0 ? `, ${s.unfinished} unfinished (in flight when stopped)` : '';
  lines.push(`policy ${s.policy}: ${s.completed}/${s.requests} completed, ${s.rejected} rejected${s.rejected_429 ? ` (${s.rejected_429} by the router queue, 429)` : ''}${unfinished}, ${fmt(s.duration_s, 1)} s simulated in ${fmt(s.wall_s, 2)} s`);
  lines.push('');
  lines.push(table([
    ['latency (ms)', 'mean', 'p50', 'p90', 'p99', 'std'],
    lat('TTFT', s.ttft_ms),
    lat('TPOT', s.tpot_ms),
    // ITL needs per-token times: a summary saved by an older version may lack them.
    ...(Number.isFinite(s.itl_ms.mean) ? [lat('ITL', s.itl_ms)] : []),
    lat('E2E', s.e2e_ms),
    lat('queue', s.queue_ms),
  ]));
  lines.push('');
  const kv: [string, string][] = [
    ['throughput', `${fmt(s.throughput_rps, 2)} req/s, ${fmt(s.output_tokens_per_s, 0)} output tok/s, ${fmt(s.total_tokens_per_s, 0)} total tok/s`],
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
  lines.push(...pdSummaryLines(s));
  for (const g of groupTables(s)) {
    lines.push('');
    lines.push(table(g));
  }
  lines.push('');
  const roles = s.pd !== undefined;
  lines.push(table([
    ['worker', ...(roles ? ['role'] : []), 'gpu', 'requests', 'hit rate', 'preempt', 'cost $'],
    ...s.workers.map((x) => [x.name, ...(roles ? [x.role ?? 'both'] : []), x.gpu, String(x.requests), `${fmt(x.prefix_hit_rate * 100, 1)}%`, String(x.preemptions), fmt(x.cost_usd, 4)]),
  ]));
  return lines.join('\n');
}

/**
 * Why requests were rejected, for stderr: the count and the first few distinct reasons with a
 * request each (requests.csv has the status, not the reason). Null when nothing was rejected.
 */
export function rejectionNote(log: RequestLog, examples = 3): string | null {
  if (log.rejected === 0) return null;
  const seen = new Map<string, string>();
  for (let i = 0; i < log.length && seen.size < examples; i++) {
    const reason = log.reasons[i];
    if (log.statuses[i] === 'rejected' && reason !== undefined && !seen.has(reason)) seen.set(reason, log.ids[i]);
  }
  const eg = [...seen].map(([reason, id]) => `${id}: ${reason}`).join(' | ');
  return `${log.rejected} request${log.rejected === 1 ? '' : 's'} rejected${eg ? `, e.g. ${eg}` : ''}`;
}

/** JSON summary with NaN as null (JSON has no NaN). */
export function summaryJson(s: Summary): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
