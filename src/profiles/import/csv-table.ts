import { readFileSync, existsSync } from 'node:fs';
import { UserError } from '../../util/errors.js';

/** A numeric CSV as header + rows of cells (small profiler files: read whole). */
export interface CsvTable {
  path: string;
  header: string[];
  rows: string[][];
}

export function readCsv(path: string): CsvTable {
  if (!existsSync(path)) throw new UserError(`${path}: missing`);
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new UserError(`${path}: expected a header and at least one row`);
  const header = lines[0].split(',').map((h) => h.trim());
  return { path, header, rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Column index by name, or a clear error naming the file and what it holds. */
export function column(t: CsvTable, name: string): number {
  const i = t.header.indexOf(name);
  if (i < 0) throw new UserError(`${t.path}: no column "${name}" (columns: ${t.header.join(', ')})`);
  return i;
}

/** A number cell; a bad one is reported with its file, line and column. */
export function num(t: CsvTable, row: number, col: number): number {
  const v = Number(t.rows[row][col]);
  if (!Number.isFinite(v)) throw new UserError(`${t.path}:${row + 2}: column ${t.header[col]}: expected a number, got "${t.rows[row][col]}"`);
  return v;
}

/** Rounds a time to 0.01 µs so derived tables stay small and diff-stable. */
export function us(v: number): number {
  return Math.round(v * 100) / 100;
}

/** A data directory named portably: from the simulator's own name onwards (no machine paths in profiles). */
export function dataLabel(dir: string): string {
  const parts = dir.replace(/\/+$/, '').split('/');
  const i = parts.findIndex((p) => p === 'llmservingsim' || p === 'vidur' || p === 'LLMServingSim');
  return (i >= 0 ? parts.slice(i) : parts.slice(-3)).join('/');
}
