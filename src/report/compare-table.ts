import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { LATENCY_STATS, type Summary } from '../metrics/summary.js';
import { UserError } from '../util/errors.js';
import { LATENCY_KEYS, summaryRow } from './csv.js';

/** One compared run: a label and its summary.csv columns as numbers (NaN where empty). */
export interface CompareRow {
  run: string;
  policy: string;
  values: Record<string, number>;
}

type Better = 'lower' | 'higher';

/** Columns of the printed table and which direction is better. */
export const COMPARE_COLUMNS: readonly { key: string; better: Better; digits: number }[] = [
  { key: 'completed', better: 'higher', digits: 0 },
  { key: 'rejected', better: 'lower', digits: 0 },
  { key: 'ttft_ms_p50', better: 'lower', digits: 1 },
  { key: 'ttft_ms_p99', better: 'lower', digits: 1 },
  { key: 'tpot_ms_p50', better: 'lower', digits: 1 },
  { key: 'tpot_ms_p99', better: 'lower', digits: 1 },
  { key: 'e2e_ms_p99', better: 'lower', digits: 1 },
  { key: 'throughput_rps', better: 'higher', digits: 3 },
  { key: 'goodput_rps', better: 'higher', digits: 3 },
  { key: 'slo_attainment', better: 'higher', digits: 3 },
  { key: 'prefix_hit_rate', better: 'higher', digits: 3 },
  { key: 'imbalance', better: 'lower', digits: 3 },
  { key: 'cost_per_1m_tokens_usd', better: 'lower', digits: 4 },
];

export type CompareFormat = 'text' | 'markdown' | 'csv' | 'json';
export const COMPARE_FORMATS: readonly CompareFormat[] = ['text', 'markdown', 'csv', 'json'];

/** A summary as compare sees it: through summary.csv's columns, so live runs and saved files agree. */
export function rowFromSummary(run: string, s: Summary): CompareRow {
  return rowFromCells(run, summaryRow(s));
}

/** A row from summary.csv cells (strings as written; empty = not applicable). */
export function rowFromCells(run: string, cells: Record<string, string>): CompareRow {
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(cells)) {
    if (k === 'policy' || k === 'run' || k === 'best_in') continue;
    values[k] = v === '' ? NaN : Number(v);
  }
  return { run, policy: cells.policy ?? run, values };
}

/**
 * Reads saved results: summary.csv (one row per run, as simulate and compare write it) or JSON
 * (a summary object, an array of them, or compare's JSON output).
 */
export function readSummaryFile(path: string): CompareRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (/^\s*[[{]/.test(text)) return readSummaryJson(path, text);
  let records: Record<string, string>[];
  try {
    records = parse<Record<string, string>>(text, { columns: true, skip_empty_lines: true });
  } catch (err) {
    throw new UserError(`${path}: not a summary CSV (${(err as Error).message})`);
  }
  if (records.length === 0) throw new UserError(`${path}: no rows`);
  return records.map((r, i) => {
    if (r.policy === undefined) throw new UserError(`${path}:${i + 2}: no "policy" column; expected a summary.csv written by simulate or compare`);
    for (const [k, v] of Object.entries(r)) {
      if (k !== 'policy' && k !== 'run' && k !== 'best_in' && v !== '' && !Number.isFinite(Number(v))) {
        throw new UserError(`${path}:${i + 2}: column ${k}: expected a number, got "${v}"`);
      }
    }
    return rowFromCells(r.run || r.policy, r);
  });
}

function readSummaryJson(path: string, text: string): CompareRow[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: invalid JSON (${(err as Error).message})`);
  }
  const items = Array.isArray(data) ? data : [data];
  return items.map((item, i) => {
    if (typeof item !== 'object' || item === null || typeof (item as { policy?: unknown }).policy !== 'string') {
      throw new UserError(`${path}: item ${i}: expected a summary object with a "policy" field`);
    }
    const o = item as Record<string, unknown>;
    // Compare's own JSON is already flat; a simulate --json summary nests percentiles.
    if (typeof o.ttft_ms === 'object' && o.ttft_ms !== null) {
      return rowFromSummary(String(o.policy), nanForNull(o) as unknown as Summary);
    }
    const cells: Record<string, string> = {};
    for (const [k, v] of Object.entries(o)) cells[k] = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    return rowFromCells(typeof o.run === 'string' ? o.run : String(o.policy), cells);
  });
}

/** JSON has no NaN: summaryJson writes null; put NaN back (keeping goodput/SLO null = "no SLO"). */
function nanForNull(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null) out[k] = k === 'goodput_rps' || k === 'slo_attainment' ? null : NaN;
    else if (typeof v === 'object' && !Array.isArray(v)) out[k] = nanForNull(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

/** For each column, the rows holding the best value (ties all marked; none with fewer than two rows). */
export function bestPerColumn(rows: CompareRow[]): Map<string, Set<number>> {
  const best = new Map<string, Set<number>>();
  for (const c of COMPARE_COLUMNS) {
    const set = new Set<number>();
    best.set(c.key, set);
    const finite = rows.map((r, i) => [r.values[c.key], i] as const).filter(([v]) => Number.isFinite(v));
    if (finite.length < 2) continue;
    const target = c.better === 'lower' ? Math.min(...finite.map(([v]) => v)) : Math.max(...finite.map(([v]) => v));
    if (finite.every(([v]) => v === target)) continue;
    for (const [v, i] of finite) if (v === target) set.add(i);
  }
  return best;
}

function cellText(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

/** The comparison in one of the formats; text marks the best with `*`, markdown in bold. */
export function formatCompare(rows: CompareRow[], format: CompareFormat): string {
  const best = bestPerColumn(rows);
  const bestIn = (i: number): string[] => COMPARE_COLUMNS.filter((c) => best.get(c.key)?.has(i)).map((c) => c.key);
  if (format === 'json') {
    return JSON.stringify(
      rows.map((r, i) => ({ run: r.run, policy: r.policy, ...finiteOrNull(r.values), best_in: bestIn(i) })),
      null,
      2,
    );
  }
  if (format === 'csv') {
    const keys = Object.keys(rows[0]?.values ?? {});
    return stringify(
      rows.map((r, i) => [r.run, r.policy, ...keys.map((k) => (Number.isFinite(r.values[k]) ? String(r.values[k]) : '')), bestIn(i).join(' ')]),
      { header: true, columns: ['run', 'policy', ...keys, 'best_in'] },
    );
  }
  const header = ['run', ...COMPARE_COLUMNS.map((c) => c.key)];
  const body = rows.map((r, i) =>
    [r.run, ...COMPARE_COLUMNS.map((c) => {
      const t = cellText(r.values[c.key], c.digits);
      if (!best.get(c.key)?.has(i)) return t;
      return format === 'markdown' ? `**${t}**` : `${t}*`;
    })],
  );
  if (format === 'markdown') {
    const md = (cells: string[]): string => `| ${cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [md(header), `|${header.map((_, c) => (c === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(md)].join('\n');
  }
  const all = [header, ...body];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const lines = all.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  '));
  return `${lines.join('\n')}\n(* best in column; lower is better for latency, rejected, imbalance and cost)`;
}

function finiteOrNull(values: Record<string, number>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(values)) out[k] = Number.isFinite(v) ? v : null;
  return out;
}

/**
 * One `--fail-on` rule. `p99_ttft_ms>+10%`: fails when the run exceeds the baseline by more than
 * 10%; `goodput_rps<-5%`: when it falls more than 5% below; `ttft_ms_p99>+50`: by more than 50 in
 * the column's unit; `ttft_ms_p99>2000` (no sign): an absolute limit that needs no baseline.
 */
export interface FailRule {
  text: string;
  column: string;
  op: '>' | '<';
  amount: number;
  kind: 'relative' | 'delta' | 'limit';
}

export interface Violation {
  rule: FailRule;
  run: string;
  value: number;
  baseline?: number;
  message: string;
}

/** Known metric names: summary.csv columns, plus `p99_ttft_ms`-style aliases for percentiles. */
function columnOf(metric: string, known: readonly string[]): string | undefined {
  if (known.includes(metric)) return metric;
  const m = /^(mean|p50|p90|p99|std)_(.+)$/.exec(metric);
  if (m && known.includes(`${m[2]}_${m[1]}`)) return `${m[2]}_${m[1]}`;
  return undefined;
}

export const FAIL_ON_METRICS: readonly string[] = (() => {
  const cols: string[] = ['requests', 'completed', 'rejected', 'duration_s'];
  for (const k of LATENCY_KEYS) for (const p of LATENCY_STATS) cols.push(`${k}_${p}`);
  cols.push('throughput_rps', 'output_tokens_per_s', 'total_tokens_per_s', 'goodput_rps', 'slo_attainment', 'prefix_hit_rate', 'imbalance', 'cost_usd', 'cost_per_1m_tokens_usd');
  return cols;
})();

export function parseFailOn(spec: string): FailRule[] {
  const parts = spec.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new UserError(`--fail-on: expected rules like 'p99_ttft_ms>+10%,goodput_rps<-5%', got "${spec}"`);
  return parts.map((text) => {
    const m = /^([a-z0-9_]+)\s*([<>])\s*([+-]?)(\d+(?:\.\d+)?)(%?)$/.exec(text);
    if (!m) throw new UserError(`--fail-on: rule "${text}": expected METRIC>+N%, METRIC<-N%, METRIC>+N or METRIC>N (e.g. p99_ttft_ms>+10%)`);
    const [, metric, op, sign, num, percent] = m;
    const column = columnOf(metric, FAIL_ON_METRICS);
    if (!column) throw new UserError(`--fail-on: rule "${text}": unknown metric "${metric}" (known: ${FAIL_ON_METRICS.join(', ')})`);
    if (percent && !sign) throw new UserError(`--fail-on: rule "${text}": a percentage is a change against --baseline and needs a sign (+N% or -N%)`);
    const amount = Number(num) * (sign === '-' ? -1 : 1);
    return { text, column, op: op as '>' | '<', amount, kind: percent ? 'relative' : sign ? 'delta' : 'limit' };
  });
}

/** The baseline row for a run: same label, else same policy, else the only row. */
function baselineFor(run: CompareRow, baseline: CompareRow[]): CompareRow | undefined {
  return baseline.find((b) => b.run === run.run) ?? baseline.find((b) => b.policy === run.policy) ?? (baseline.length === 1 ? baseline[0] : undefined);
}

/** Why a column can be empty, for the error that names it. */
function noValueHint(column: string): string {
  if (column === 'goodput_rps' || column === 'slo_attainment') return ' (goodput and SLO attainment need an SLO: pass --slo)';
  return ' (no completed request gives it one)';
}

export function evaluateFailOn(rules: FailRule[], rows: CompareRow[], baseline: CompareRow[] | null): Violation[] {
  const out: Violation[] = [];
  for (const rule of rules) {
    if (rule.kind !== 'limit' && !baseline) throw new UserError(`--fail-on: rule "${rule.text}" compares against a baseline; pass --baseline FILE`);
    for (const r of rows) {
      const value = r.values[rule.column];
      // A gate that cannot be evaluated must not pass silently.
      if (!Number.isFinite(value)) throw new UserError(`--fail-on: rule "${rule.text}": ${rule.column} has no value for run ${r.run}${noValueHint(rule.column)}`);
      if (rule.kind === 'limit') {
        if (rule.op === '>' ? value > rule.amount : value < rule.amount) {
          out.push({ rule, run: r.run, value, message: `${rule.text} violated by ${r.run}: ${rule.column} = ${value}` });
        }
        continue;
      }
      const b = baselineFor(r, baseline ?? []);
      if (!b) throw new UserError(`--baseline: no row for run "${r.run}" (baseline has ${(baseline ?? []).map((x) => x.run).join(', ')})`);
      const base = b.values[rule.column];
      if (!Number.isFinite(base)) throw new UserError(`--fail-on: rule "${rule.text}": ${rule.column} has no value in the baseline row "${b.run}"${noValueHint(rule.column)}`);
      const change = rule.kind === 'delta' ? value - base : base === 0 ? (value === 0 ? 0 : Math.sign(value) * Infinity) : ((value - base) / Math.abs(base)) * 100;
      if (rule.op === '>' ? change > rule.amount : change < rule.amount) {
        const shown = rule.kind === 'relative' ? `${change >= 0 ? '+' : ''}${change.toFixed(1)}%` : `${change >= 0 ? '+' : ''}${change}`;
        out.push({ rule, run: r.run, value, baseline: base, message: `${rule.text} violated by ${r.run}: ${rule.column} = ${value} vs baseline ${base} (${shown})` });
      }
    }
  }
  return out;
}
