import { parentPort, workerData } from 'node:worker_threads';
import { openTrace } from '../workload/trace.js';
import type { TraceExtent } from './trace-scan.js';

const { path, format, limit } = workerData as { path: string; format?: string; limit?: number };
let requests = 0;
let lastArrivalS = 0;
for await (const r of openTrace(path, { format, limit })) {
  requests++;
  lastArrivalS = r.arrivalS;
}
parentPort?.postMessage({ requests, lastArrivalS } satisfies TraceExtent);
