import { parentPort } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { runCell, WorkloadCache, type CellOutcome, type CellSpec } from './cell.js';

/** A cell sent to a sweep thread, and its answer. */
export interface PoolTask {
  index: number;
  spec: CellSpec;
}
export type PoolReply = { ok: true; index: number; outcome: CellOutcome } | { ok: false; index: number; message: string; userError: boolean };

const cache = new WorkloadCache();
// Cells arrive one at a time (the pool waits for each answer), so they never overlap here.
parentPort?.on('message', (task: PoolTask) => {
  runCell(task.spec, cache).then(
    (outcome) => parentPort?.postMessage({ ok: true, index: task.index, outcome } satisfies PoolReply),
    (err: unknown) =>
      parentPort?.postMessage({ ok: false, index: task.index, message: err instanceof Error ? err.message : String(err), userError: err instanceof UserError } satisfies PoolReply),
  );
});
