import { Worker } from 'node:worker_threads';
import type { WorkloadFlags } from '../workload/workload.js';

/** How long a trace is: its request count and the arrival time of its last request. */
export interface TraceExtent {
  requests: number;
  lastArrivalS: number;
}

/**
 * Reads the workload once on a worker thread, from the same flags and code the simulation uses, to
 * learn its length for the progress bar and ETA while the simulation reads it on the main thread. Resolves null when the scan fails (the simulation
 * reports the trace's errors itself).
 */
export function scanTraceExtent(flags: WorkloadFlags): { extent: Promise<TraceExtent | null>; cancel: () => void } {
  const worker = new Worker(new URL('./trace-scan-worker.js', import.meta.url), { workerData: flags });
  worker.unref();
  const extent = new Promise<TraceExtent | null>((resolve) => {
    worker.once('message', (m: TraceExtent) => resolve(m));
    worker.once('error', () => resolve(null));
    worker.once('exit', () => resolve(null));
  });
  return { extent, cancel: () => void worker.terminate() };
}
