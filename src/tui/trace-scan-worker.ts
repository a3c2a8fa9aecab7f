import { parentPort, workerData } from 'node:worker_threads';
import { buildWorkload, defaultTracePath, type WorkloadFlags } from '../workload/workload.js';
import type { TraceExtent } from './trace-scan.js';

let requests = 0;
let lastArrivalS = 0;
// The same request stream as the simulation's (requestsFromFlags in cli/simulate.ts).
for await (const r of buildWorkload(workerData as WorkloadFlags, defaultTracePath()).requests) {
  requests++;
  lastArrivalS = r.arrivalS;
}
parentPort?.postMessage({ requests, lastArrivalS } satisfies TraceExtent);
