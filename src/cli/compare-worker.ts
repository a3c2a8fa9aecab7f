import { parentPort, workerData } from 'node:worker_threads';
import { summaryRow } from '../report/csv.js';
import { UserError } from '../util/errors.js';
import { simulateFromFlags, type SimulateFlags } from './simulate.js';

/** One `router compare` run on its own thread: the same code path as a sequential run. */
export type CompareWorkerReply = { ok: true; cells: Record<string, string> } | { ok: false; message: string; userError: boolean };

try {
  const result = await simulateFromFlags(workerData as SimulateFlags);
  parentPort?.postMessage({ ok: true, cells: summaryRow(result.summary) } satisfies CompareWorkerReply);
} catch (err) {
  parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err), userError: err instanceof UserError } satisfies CompareWorkerReply);
}
