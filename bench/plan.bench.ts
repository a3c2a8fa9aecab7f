/**
 * `router plan` against brute force (npm run bench:plan). Prints figures; asserts nothing.
 * ShareGPT:BIRD 7:4 (35 + 20 req/s for 60 s, from /work/shared/data), GPU types
 * {a10, l20, l40s, h100-sxm}, up to 8 GPUs, 4 policies, SLO TTFT 2 s / TPOT 100 ms, target 99 %.
 * Times the plan, then simulates every composition × policy (the exhaustive sweep) and reports
 * whether the plan's answer is the exhaustive cheapest feasible configuration, and how long each took.
 * `node dist/bench/plan.bench.js --plan-only` skips the exhaustive part.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseSlo } from '../src/metrics/slo.js';
import { enumerateCompositions, parseGpuChoices } from '../src/plan/space.js';
import { cellSpecFor, cheapestFeasible, pointFrom, searchPlan, workloadExtent, type PlanInput, type PlanPoint } from '../src/plan/search.js';
import { formatPlan } from '../src/plan/report.js';
import { simulateCommand } from '../src/sweep/cell.js';
import { createRunner, defaultJobs } from '../src/sweep/pool.js';
import { sharedDataDir } from '../src/workload/shared-data.js';

const data = sharedDataDir() ?? '';
const sharegpt = join(data, 'sharegpt', 'sharegpt_v3_sample1000.json');
const bird = join(data, 'bird', 'dev.json');
if (!existsSync(sharegpt) || !existsSync(bird)) {
  process.stdout.write(`bench:plan skipped: ${sharegpt} or ${bird} not found\n`);
  process.exit(0);
}

const slo = 'ttft_ms=2000,tpot_ms=100';
const target = 0.99;
const maxTotal = 8;
const policies = ['least-request', 'cache-aware', 'prefix-cache', 'power-of-two'];
const workload = { mix: `${sharegpt}:35,${bird}:20`, duration: '60', seed: '42' };
const types = parseGpuChoices('a10,l20,l40s,h100-sxm', maxTotal);
const jobs = defaultJobs();
const runner = createRunner(jobs);
const extent = await workloadExtent(workload);
const input: PlanInput = {
  workload,
  slo,
  sloSpec: parseSlo(slo),
  types,
  maxTotal,
  policies,
  target,
  scrapeIntervalS: 1,
  requests: extent.requests,
  arrivalSpanS: extent.arrivalSpanS,
  runner,
};

const describe = (p: PlanPoint | null): string => (p ? `${p.comp.fleet} with ${p.policy} at $${p.costPerHour.toFixed(3)}/h (attainment ${(p.attainment * 100).toFixed(2)}%)` : 'none');

try {
  process.stdout.write(`workload: ShareGPT 35 req/s + BIRD 20 req/s for 60 s: ${extent.requests} requests; ${jobs} threads\n`);
  const t0 = performance.now();
  const plan = await searchPlan(input);
  const planS = (performance.now() - t0) / 1e3;
  process.stdout.write(`${formatPlan(plan, target)}\n\n`);

  let exhaustive: PlanPoint | null = null;
  let exhaustiveS = NaN;
  let cells = 0;
  if (!process.argv.includes('--plan-only')) {
    const comps = enumerateCompositions(types, maxTotal);
    const all = comps.flatMap((comp) => policies.map((policy, policyIndex) => ({ comp, policy, policyIndex })));
    cells = all.length;
    const points = new Array<PlanPoint>(all.length);
    const t1 = performance.now();
    let done = 0;
    await runner.run(
      all.map((c, index) => ({ index, spec: cellSpecFor(input, c.comp.fleet, c.policy) })),
      (i, o) => {
        points[i] = pointFrom(all[i].comp, all[i].policyIndex, all[i].policy, cellSpecFor(input, all[i].comp.fleet, all[i].policy), o, 'search');
        if (++done % 100 === 0) process.stderr.write(`exhaustive: ${done}/${all.length} cells, ${((performance.now() - t1) / 1e3).toFixed(0)} s\n`);
      },
    );
    exhaustiveS = (performance.now() - t1) / 1e3;
    exhaustive = cheapestFeasible(points, target);
  }

  process.stdout.write('                     wall s   simulations   answer\n');
  process.stdout.write(`plan              ${planS.toFixed(1).padStart(9)} ${String(plan.points.length + types.length).padStart(13)}   ${describe(plan.best)}\n`);
  if (cells > 0) {
    process.stdout.write(`exhaustive sweep  ${exhaustiveS.toFixed(1).padStart(9)} ${String(cells).padStart(13)}   ${describe(exhaustive)}\n`);
    const same = plan.best !== null && exhaustive !== null ? plan.best.comp.index === exhaustive.comp.index && plan.best.policy === exhaustive.policy : plan.best === exhaustive;
    process.stdout.write(`plan matches the exhaustive answer: ${same ? 'yes' : 'NO'}\n`);
  }
  if (plan.best) process.stdout.write(`reproduce: ${simulateCommand(plan.best.spec)}\n`);
} finally {
  await runner.close();
}
