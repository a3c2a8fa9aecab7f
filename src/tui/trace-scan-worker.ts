import { parentPort, workerData } from 'node:worker_threads';
import { requestsFromFlags, type SimulateFlags } from '../cli/simulate.js';
import type { TraceExtent } from './trace-scan.js';

let requests = 0;
let lastArrivalS = 0;
for await (const r of requestsFromFlags(workerData as SimulateFlags)) {
  requests++;
  lastArrivalS = r.arrivalS;
}
parentPort?.postMessage({ requests, lastArrivalS } satisfies TraceExtent);
