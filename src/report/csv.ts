import { stringify } from 'csv-stringify/sync';
import type { RequestLog } from '../metrics/request-log.js';
import { LATENCY_STATS, type Summary } from '../metrics/summary.js';
import type { TimeseriesRow } from '../metrics/run-result.js';

/** The latency metrics of a summary, in summary.csv order. */
export const LATENCY_KEYS = ['ttft_ms', 'tpot_ms', 'e2e_ms', 'queue_ms', 'itl_ms'] as const;

/** Numbers as CSV cells: fixed precision so reports are byte-stable; NaN → empty. */
export function cell(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '';
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

export const REQUEST_COLUMNS = [
  'request_id',
  'arrival_s',
  'worker',
  'queue_ms',
  'ttft_ms',
  'tpot_ms',
  'e2e_ms',
  'input_tokens',
  'cached_tokens',
  'output_tokens',
  'preemptions',
  'slo_met',
  'status',
] as const;

/** Appended to requests.csv for disaggregated runs only (colocated files keep their columns). */
export const PD_REQUEST_COLUMNS = ['prefill_worker', 'kv_transfer_start_ms', 'kv_transfer_end_ms', 'kv_transfer_bytes'] as const;

export function requestsCsv(log: RequestLog): string {
  const rows: string[][] = [];
  const pd = log.pd;
  for (let i = 0; i < log.length; i++) {
    const slo = log.sloMet.get(i);
    const row = [
      log.ids[i],
      cell(log.arrivalS.get(i), 6),
      log.workers[i],
      cell(log.queueMs.get(i)),
      cell(log.ttftMs.get(i)),
      cell(log.tpotMs.get(i)),
      cell(log.e2eMs.get(i)),
      cell(log.inputTokens.get(i)),
      cell(log.cachedTokens.get(i)),
      cell(log.outputTokens.get(i)),
      cell(log.preemptions.get(i)),
      Number.isNaN(slo) ? '' : slo === 1 ? 'true' : 'false',
      log.statuses[i],
    ];
    if (pd) row.push(pd.prefillWorkers[i], cell(pd.transferStartMs.get(i)), cell(pd.transferEndMs.get(i)), cell(pd.transferBytes.get(i)));
    rows.push(row);
  }
  return stringify(rows, { header: true, columns: pd ? [...REQUEST_COLUMNS, ...PD_REQUEST_COLUMNS] : [...REQUEST_COLUMNS] });
}

/**
 * summary.csv: one row per run, flattened (`ttft_ms_p99`), the same columns for every command.
 * Wall time is left out: it differs on every run, and the same seed must give a byte-identical
 * file (it is on stdout and in `--json`).
 */
export function summaryRow(s: Summary): Record<string, string> {
  const row: Record<string, string> = {
    policy: s.policy,
    requests: cell(s.requests),
    completed: cell(s.completed),
    rejected: cell(s.rejected),
    unfinished: cell(s.unfinished ?? NaN),
    duration_s: cell(s.duration_s),
  };
  for (const k of LATENCY_KEYS) {
    // A summary saved by an older version may lack a metric (itl_ms) or a statistic (std).
    const stats = s[k] as Summary[typeof k] | undefined;
    for (const p of LATENCY_STATS) row[`${k}_${p}`] = cell(stats?.[p] ?? NaN);
  }
  row.throughput_rps = cell(s.throughput_rps, 4);
  row.output_tokens_per_s = cell(s.output_tokens_per_s, 2);
  row.total_tokens_per_s = cell(s.total_tokens_per_s, 2);
  row.goodput_rps = s.goodput_rps === null ? '' : cell(s.goodput_rps, 4);
  row.slo_attainment = s.slo_attainment === null ? '' : cell(s.slo_attainment, 4);
  row.prefix_hit_rate = cell(s.prefix_hit_rate, 4);
  row.imbalance = cell(s.imbalance, 4);
  row.cost_usd = cell(s.cost_usd, 4);
  row.cost_per_1m_tokens_usd = cell(s.cost_per_1m_tokens_usd, 4);
  return row;
}

export function summaryCsv(summaries: Summary[]): string {
  const rows = summaries.map(summaryRow);
  return stringify(rows, { header: true, columns: Object.keys(rows[0]) });
}

export function timeseriesCsv(rows: TimeseriesRow[]): string {
  const cols = ['t_s', 'worker', 'running', 'waiting', 'kv_usage', 'in_flight', 'completed', 'prefix_hit_rate', 'prompt_tokens_per_s', 'generation_tokens_per_s'] as const;
  return stringify(
    rows.map((r) => cols.map((c) => (typeof r[c] === 'number' ? cell(r[c], 4) : r[c]))),
    { header: true, columns: [...cols] },
  );
}
