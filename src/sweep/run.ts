import { appendFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import type { CellOutcome } from './cell.js';
import { cellCount, cellKey, cellSpec, shardCells, type Grid } from './grid.js';
import { cellLine, checkRowKey, headerLine, readSweepFile, rowFields, sortedCsv } from './output.js';
import type { CellRunner } from './pool.js';

export interface SweepOptions {
  grid: Grid;
  /** The CSV written (rows appended as cells finish, then rewritten sorted). */
  out: string;
  shard: number;
  shards: number;
  runner: CellRunner;
  /** Progress reports; `now` is injected so the sweep core reads no clock itself. */
  onProgress?: (p: SweepProgress) => void;
}

export interface SweepProgress {
  total: number;
  done: number;
  /** Cells found finished in the output before this run started. */
  resumed: number;
  /** Cells this run finished. */
  ran: number;
}

export interface SweepResult {
  total: number;
  resumed: number;
  ran: number;
}

/**
 * Runs the cells of one shard that the output file does not already hold. Rows are appended as
 * cells finish (in any order), so an interrupted sweep keeps them; at the end the file is
 * rewritten atomically in cell order, which makes a single run and merged shards byte-identical.
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const total = cellCount(o.grid);
  const mine = shardCells(total, o.shard, o.shards);
  const mineSet = new Set(mine);
  const existing = readSweepFile(o.out);
  for (const [cell, line] of existing.rows) {
    if (!mineSet.has(cell)) throw new UserError(`${o.out}: holds cell ${cell}, which is not in shard ${o.shard}/${o.shards} of ${o.grid.file} (${total} cells); use another --out`);
    checkRowKey(o.out, line, cellKey(o.grid, cell));
  }
  let header = existing.header;
  const rows = new Map(existing.rows);
  // Drop a cut-off last line before appending, so the file stays well-formed throughout.
  if (header !== null) writeFileAtomic(o.out, sortedCsv(header, rows));
  const todo = mine.filter((c) => !rows.has(c));
  const resumed = mine.length - todo.length;
  let ran = 0;
  o.onProgress?.({ total: mine.length, done: resumed, resumed, ran });
  const onDone = (index: number, outcome: CellOutcome): void => {
    const h = headerLine(outcome);
    if (header === null) {
      header = h;
      writeFileAtomic(o.out, `${h}\n`);
    } else if (h !== header) {
      throw new UserError(`${o.out}: its columns differ from this version's (${rowFields(header).length} vs ${rowFields(h).length}); use another --out`);
    }
    const line = cellLine(cellKey(o.grid, index), outcome);
    appendFileSync(o.out, `${line}\n`);
    rows.set(index, line);
    ran++;
    o.onProgress?.({ total: mine.length, done: resumed + ran, resumed, ran });
  };
  await o.runner.run(todo.map((index) => ({ index, spec: cellSpec(o.grid, cellKey(o.grid, index)) })), onDone);
  if (header !== null) writeFileAtomic(o.out, sortedCsv(header, rows));
  return { total: mine.length, resumed, ran };
}

/**
 * Joins shard outputs into the file one run of the whole grid writes. With the grid, checks
 * every row against its cell and that no cell is missing.
 */
export function mergeSweepFiles(files: readonly string[], grid?: Grid): string {
  if (files.length === 0) throw new UserError('sweep merge: give the shard CSV files to merge');
  let header: string | null = null;
  let headerFrom = '';
  const rows = new Map<number, string>();
  const from = new Map<number, string>();
  for (const f of files) {
    const s = readSweepFile(f);
    if (s.header === null) throw new UserError(`${f}: empty or missing (no header)`);
    if (header === null) {
      header = s.header;
      headerFrom = f;
    } else if (s.header !== header) throw new UserError(`${f}:1: header differs from ${headerFrom}'s`);
    for (const [cell, line] of s.rows) {
      const prev = rows.get(cell);
      if (prev !== undefined && prev !== line) throw new UserError(`${f}: cell ${cell} differs from the same cell in ${from.get(cell)}`);
      if (grid) {
        if (cell >= cellCount(grid)) throw new UserError(`${f}: cell ${cell} is beyond the grid's ${cellCount(grid)} cells`);
        checkRowKey(f, line, cellKey(grid, cell));
      }
      rows.set(cell, line);
      from.set(cell, f);
    }
  }
  if (grid) {
    const missing: number[] = [];
    for (let i = 0; i < cellCount(grid); i++) if (!rows.has(i)) missing.push(i);
    if (missing.length > 0) {
      throw new UserError(`sweep merge: ${missing.length} of ${cellCount(grid)} cells missing (first: ${missing.slice(0, 5).join(', ')}); run the shards that hold them`);
    }
  }
  return sortedCsv(header as string, rows);
}
