/**
 * Priority classes and tenant quotas under overload (npm run bench:tenants), issue 17 item 3.
 * Prints figures; asserts nothing. Every figure is simulated (virtual clock): load on the machine
 * changes only the wall time.
 *
 * ShareGPT (shared data) with Poisson arrivals split 20% critical / 50% standard / 30% sheddable,
 * on 2 x Llama-3.1-8B @ L20 behind least-request, the router holding at most --in-flight requests
 * on the fleet (a pull-mode queue of --queue-max, --queue-timeout s; beyond it 429), SLO TTFT
 * --ttft ms (rejections count as misses). Capacity = the completion rate of that fleet when
 * offered far more than it can take (FIFO); then 1x, 1.5x and 2x of it, with the classes only
 * labelling requests (fifo), strict priority (pre-emption of queued lower classes on a full
 * queue) and weighted-fair (8:4:1). A last row gives the sheddable traffic to tenant "batch"
 * with a requests/s quota of 20% of capacity (429s before the queue).
 *
 *   node dist/bench/tenants.bench.js [--duration S] [--ttft MS] [--in-flight N] [--queue-max N] [--queue-timeout S] [--seed N]
 */
import { join } from 'node:path';
import { resolveDeployment } from '../src/profiles/catalog.js';
import type { FleetWorker } from '../src/profiles/fleet.js';
import { createPolicy } from '../src/routing/registry.js';
import { Admission } from '../src/routing/admission/admission.js';
import { parseAdmissionConfig } from '../src/routing/admission/config.js';
import { SimAdmission } from '../src/sim/admission.js';
import { Simulation } from '../src/sim/simulator.js';
import { buildWorkload } from '../src/workload/workload.js';
import { sharedDataDir, SHARED_TRACES } from '../src/workload/shared-data.js';
import type { GroupSummary } from '../src/metrics/summary.js';
import { numberArg } from './args.js';

const DURATION = numberArg('--duration', 300);
const TTFT_MS = numberArg('--ttft', 2000);
const IN_FLIGHT = numberArg('--in-flight', 48);
const QUEUE_MAX = numberArg('--queue-max', 100);
const QUEUE_TIMEOUT = numberArg('--queue-timeout', 10);
const SEED = numberArg('--seed', 1);
const MIX = [
  ['critical', 0.2],
  ['standard', 0.5],
  ['sheddable', 0.3],
] as const;

const data = sharedDataDir();
if (!data) {
  console.log('bench:tenants: skipped (no shared data directory with the ShareGPT trace)');
  process.exit(0);
}
const trace = join(data, SHARED_TRACES.sharegpt);
const deployment = resolveDeployment({ gpu: 'l20', model: 'llama-3.1-8b', where: 'bench' });
const fleet: FleetWorker[] = [0, 1].map((i) => ({ name: `l20-${i}`, deployment }));

interface Run {
  completedRps: number;
  goodputRps: number;
  attainment: number;
  byClass: Map<string, GroupSummary>;
  preempted: number;
  quota429: number;
  wallS: number;
}

async function run(rateRps: number, dequeue: 'fifo' | 'strict' | 'weighted', batchQuotaRps?: number): Promise<Run> {
  const mix = MIX.map(([cls, share]) => `${trace}:${rateRps * share}:priority=${cls}${batchQuotaRps !== undefined && cls === 'sheddable' ? ':tenant=batch' : ''}`).join(',');
  const requests = buildWorkload({ mix, duration: String(DURATION), seed: String(SEED) }).requests;
  const config = parseAdmissionConfig(
    {
      priorities: { max_in_flight: IN_FLIGHT, queue_max: QUEUE_MAX, queue_timeout_s: QUEUE_TIMEOUT, dequeue },
      tenants: batchQuotaRps === undefined ? {} : { batch: { requests_per_s: batchQuotaRps, burst_requests: Math.max(1, Math.round(batchQuotaRps)) } },
    },
    'bench',
  );
  const admission = new Admission(config, 0);
  const sim = new Simulation({ fleet, policy: createPolicy('least-request'), requests, seed: SEED, scrapeIntervalS: 0.1, timeseriesIntervalS: 10, timeseries: false, requestLog: 'summary', slo: { ttftMs: TTFT_MS, percentile: 99 }, admission: new SimAdmission(admission) });
  const t0 = performance.now();
  const r = await sim.run();
  const s = r.summary;
  const byClass = new Map((s.by_priority ?? []).map((g) => [g.name, g]));
  const rejected429 = s.rejected_429 ?? 0;
  const preempted = admission.classes.preempted.reduce((a, b) => a + b, 0);
  return {
    completedRps: s.throughput_rps,
    goodputRps: s.goodput_rps ?? NaN,
    attainment: s.slo_attainment ?? NaN,
    byClass,
    preempted,
    // Quota refusals are 429s that never reached the queue: the sheddable class's 429s beyond the queue's own.
    quota429: batchQuotaRps === undefined ? 0 : rejected429,
    wallS: (performance.now() - t0) / 1e3,
  };
}

const sat = await run(20, 'fifo');
const capacity = sat.completedRps;
console.log(`bench:tenants — ShareGPT, ${DURATION} s per run, 2 x ${deployment.name}, least-request, max_in_flight ${IN_FLIGHT}, queue_max ${QUEUE_MAX}, queue_timeout ${QUEUE_TIMEOUT} s, SLO TTFT ${TTFT_MS} ms, seed ${SEED}`);
console.log(`capacity (completions/s offered 20 req/s, FIFO): ${capacity.toFixed(2)} req/s; mix ${MIX.map(([c, s]) => `${c} ${s * 100}%`).join(' / ')}`);
const pct = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)}%`);
const rows: string[][] = [['load', 'dequeue', 'critical SLO', 'standard SLO', 'sheddable SLO', 'all SLO', 'critical gp', 'standard gp', 'sheddable gp', 'goodput', 'pre-empted', 'wall s']];
const add = (label: string, mode: string, r: Run): void => {
  const c = (n: string): GroupSummary | undefined => r.byClass.get(n);
  rows.push([label, mode, pct(c('critical')?.slo_attainment), pct(c('standard')?.slo_attainment), pct(c('sheddable')?.slo_attainment), pct(r.attainment), (c('critical')?.goodput_rps ?? NaN).toFixed(2), (c('standard')?.goodput_rps ?? NaN).toFixed(2), (c('sheddable')?.goodput_rps ?? NaN).toFixed(2), r.goodputRps.toFixed(2), String(r.preempted), r.wallS.toFixed(1)]);
};
for (const load of [1, 1.5, 2]) {
  for (const mode of ['fifo', 'strict', 'weighted'] as const) add(`${load}x`, mode, await run(capacity * load, mode));
}
const quota = capacity * 0.2;
const q = await run(capacity * 2, 'strict', quota);
add('2x', `strict, batch ≤ ${quota.toFixed(2)}/s`, q);
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  '));
console.log(`(SLO = share of the class's requests meeting TTFT ≤ ${TTFT_MS} ms, rejections counted as misses; gp = goodput, req/s meeting the SLO; last row: ${q.quota429} requests answered 429, quota or queue)`);
