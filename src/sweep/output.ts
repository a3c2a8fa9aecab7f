import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { UserError } from '../util/errors.js';
import type { CellOutcome } from './cell.js';
import type { CellKey } from './grid.js';

/** Columns that say which cell a row is; then the fleet's price and summary.csv's columns. */
export const KEY_COLUMNS = ['cell', 'policy', 'policy_options', 'fleet', 'rate_x', 'seed', 'slo'] as const;

/** One CSV line (no newline) for a finished cell. Columns follow the outcome's summary cells. */
export function cellLine(key: CellKey, outcome: CellOutcome): string {
  const values = [String(key.index), key.policy, key.policyOptions, key.fleet, String(key.rate), String(key.seed), key.slo, outcome.costPerHour.toFixed(4), ...Object.values(outcome.cells)];
  return stringify([values]).replace(/\n$/, '');
}

export function headerLine(outcome: CellOutcome): string {
  return stringify([[...KEY_COLUMNS, 'cost_per_hour_usd', ...Object.keys(outcome.cells)]]).replace(/\n$/, '');
}

/** A sweep CSV as lines: the header and each complete row by cell index, kept byte for byte. */
export interface SweepFile {
  header: string | null;
  rows: Map<number, string>;
}

/** A CSV row's fields, for checking it against its cell. */
export function rowFields(line: string): string[] {
  return parse(line)[0] ?? [];
}

/**
 * Reads a sweep CSV. A last line without its newline is an interrupted write and is dropped (its
 * cell runs again); any other malformed line is an error naming it.
 */
export function readSweepFile(path: string): SweepFile {
  if (!existsSync(path)) return { header: null, rows: new Map() };
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // After a final newline split leaves '' last; otherwise the last line was cut mid-write.
  lines.pop();
  const rows = new Map<number, string>();
  if (lines.length === 0) return { header: null, rows };
  const header = lines[0];
  if (!header.startsWith(`${KEY_COLUMNS.join(',')},`)) throw new UserError(`${path}:1: not a sweep CSV (expected the header ${KEY_COLUMNS.join(',')},...)`);
  const width = rowFields(header).length;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    let fields: string[];
    try {
      fields = rowFields(line);
    } catch (err) {
      throw new UserError(`${path}:${i + 1}: malformed CSV row (${(err as Error).message})`);
    }
    const cell = Number(fields[0]);
    if (fields.length !== width || !Number.isInteger(cell) || cell < 0) throw new UserError(`${path}:${i + 1}: malformed sweep row (expected ${width} fields starting with a cell index)`);
    const prev = rows.get(cell);
    if (prev !== undefined && prev !== line) throw new UserError(`${path}:${i + 1}: cell ${cell} appears twice with different results`);
    rows.set(cell, line);
  }
  return { header, rows };
}

/** Checks a row's coordinates against the grid's cell of the same index. */
export function checkRowKey(path: string, line: string, key: CellKey): void {
  const f = rowFields(line);
  const want = [String(key.index), key.policy, key.policyOptions, key.fleet, String(key.rate), String(key.seed), key.slo];
  for (let c = 0; c < want.length; c++) {
    if (f[c] !== want[c]) {
      throw new UserError(`${path}: cell ${key.index}: ${KEY_COLUMNS[c]} is "${f[c]}" but the grid's cell ${key.index} has "${want[c]}" (the file was written for another grid)`);
    }
  }
}

/** The final file: header, then rows by cell index — the same bytes however the cells were run. */
export function sortedCsv(header: string, rows: Map<number, string>): string {
  const keys = [...rows.keys()].sort((a, b) => a - b);
  return `${[header, ...keys.map((k) => rows.get(k) as string)].join('\n')}\n`;
}
