/**
 * Simulator speed and memory (npm run bench:sim). Prints figures; asserts nothing.
 *  (a) the RTX 4090 ground-truth workload (300 requests, KV-bound)
 *  (b) a one-hour Poisson trace at 20 req/s on 8 workers (roofline), and (b2) the same on 8 RTX 4090s
 *      priced from their measured operator tables (the tables are array lookups, not recomputed)
 *  (c) 1,000,000 synthetic requests on 32 workers (streamed: the trace is never held in memory)
 *   node dist/bench/sim.bench.js [a|b|b2|c] [--requests N]   (--requests shortens (c), e.g. for a profile)
 */
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { defaultGroundTruthDir, groundTruthDeployment, loadGroundTruth } from '../src/calibration/ground-truth.js';
import { parseFleet } from '../src/profiles/fleet.js';
import { createPolicy } from '../src/routing/registry.js';
import { Simulation } from '../src/sim/simulator.js';
import { syntheticRequests } from '../src/workload/synthetic.js';
import type { Request } from '../src/workload/request.js';
import type { FleetWorker } from '../src/profiles/fleet.js';

interface Row {
  name: string;
  requests: number;
  simS: number;
  wallS: number;
  /** CPU seconds of the process: on a shared machine wall time also measures the neighbours. */
  cpuS: number;
  rssMiB: number;
}

let peakRss = 0;
function sampleRss(): void {
  // rss() alone: memoryUsage() also walks the heap spaces, every batch of a million-request run.
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}

async function bench(name: string, fleet: FleetWorker[], requests: Iterable<Request>, policy = 'least-request'): Promise<Row> {
  peakRss = 0;
  const sim = new Simulation({ fleet, policy: createPolicy(policy), requests, seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 10, onBatch: sampleRss });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = await sim.run();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = process.cpuUsage(c0);
  sampleRss();
  return { name, requests: r.summary.requests, simS: r.summary.duration_s, wallS, cpuS: (c1.user + c1.system) / 1e6, rssMiB: peakRss / 2 ** 20 };
}

const shareGptLike = { input: { kind: 'lognormal' as const, mean: 300, sigma: 1.0, min: 4, max: 4000 }, output: { kind: 'lognormal' as const, mean: 200, sigma: 0.8, min: 1, max: 1500 } };
const rows: Row[] = [];
/** The 1-minute load average when the runs start: wall figures on a loaded machine measure the neighbours too. */
const loadAtStart = loadavg()[0];
const only = process.argv[2]?.startsWith('--') ? undefined : process.argv[2];
const ri = process.argv.indexOf('--requests');
const cRequests = ri >= 0 ? Number(process.argv[ri + 1]) : 1_000_000;
if (!Number.isInteger(cRequests) || cRequests <= 0) {
  process.stderr.write(`--requests: expected a positive integer, got ${process.argv[ri + 1]}\n`);
  process.exit(2);
}

if (!only || only === 'a') {
  const dir = defaultGroundTruthDir();
  if (existsSync(dir)) {
    const gt = await loadGroundTruth(dir);
    rows.push(await bench('(a) RTX 4090 ground truth, 1 worker', [{ name: 'rtx-4090-0', deployment: groundTruthDeployment(gt) }], gt.requests, 'round-robin'));
  } else process.stdout.write(`(a) skipped: ${dir} not found\n`);
}
if (!only || only === 'b') {
  rows.push(await bench('(b) 1 h Poisson 20 req/s, 8 x L20', parseFleet('l20:8'), syntheticRequests({ seed: 1, rate: 20, count: 72_000, ...shareGptLike })));
}
if (!only || only === 'b2') {
  rows.push(await bench('(b2) same, 8 x RTX 4090 (operator tables)', parseFleet('rtx-4090:8'), syntheticRequests({ seed: 1, rate: 20, count: 72_000, ...shareGptLike })));
}
if (!only || only === 'c') {
  const label = cRequests === 1_000_000 ? '1M' : cRequests.toLocaleString('en-US');
  rows.push(await bench(`(c) ${label} requests, 32 x H100`, parseFleet('h100-sxm:32'), syntheticRequests({ seed: 2, rate: 400, count: cRequests, ...shareGptLike })));
}

process.stdout.write('benchmark                               requests   sim time    wall    sim/wall   req/s wall      CPU    sim/CPU   req/s CPU   peak RSS\n');
for (const r of rows) {
  process.stdout.write(
    `${r.name.padEnd(38)} ${String(r.requests).padStart(9)} ${r.simS.toFixed(0).padStart(8)} s ${r.wallS.toFixed(2).padStart(6)} s ${(r.simS / r.wallS).toFixed(0).padStart(8)}x ${(r.requests / r.wallS).toFixed(0).padStart(11)} ${r.cpuS.toFixed(2).padStart(6)} s ${(r.simS / r.cpuS).toFixed(0).padStart(8)}x ${(r.requests / r.cpuS).toFixed(0).padStart(10)} ${r.rssMiB.toFixed(0).padStart(7)} MiB\n`,
  );
}
process.stdout.write(`machine load (1-min average): ${loadAtStart.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end, on ${availableParallelism()} cores\n`);
