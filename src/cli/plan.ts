import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { parseSlo } from '../metrics/slo.js';
import { createPolicy } from '../routing/registry.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { buildWorkload, type WorkloadFlags } from '../workload/workload.js';
import { parseGpuChoices } from '../plan/space.js';
import { searchPlan, workloadExtent, type PlanResult } from '../plan/search.js';
import { formatPlan, planCsv, planHtml } from '../plan/report.js';
import { createRunner, defaultJobs } from '../sweep/pool.js';
import { parseNumberFlag, runAction } from './errors.js';
import { addWorkloadOptions } from './workload-options.js';
import { defaultTracePath } from './simulate.js';

interface PlanFlags extends WorkloadFlags {
  slo: string;
  gpus: string;
  maxGpus: string;
  policies: string;
  budget?: string;
  targetAttainment: string;
  scrapeInterval: string;
  jobs?: string;
  out?: string;
}

export function registerPlan(program: Command): void {
  const cmd = program
    .command('plan')
    .description('Find the cheapest fleet (GPU types x counts) and routing policy that meet an SLO on your traffic: prints the cost/attainment Pareto frontier and the command that reproduces the answer')
    .option('--trace <file>', `trace file (default: the shipped ${DEFAULTS.trace})`)
    .requiredOption('--slo <spec>', 'SLO every request is held to, e.g. ttft_ms=2000,tpot_ms=100')
    .requiredOption('--gpus <list>', 'GPU types to choose from, each with an optional maximum count: l20,a10,h100-sxm:2')
    .option('--max-gpus <n>', 'most workers in a fleet', String(DEFAULTS.plan.maxGpus))
    .option('--policies <a,b>', 'routing policies to try', DEFAULTS.policy)
    .option('--budget <usd>', 'highest fleet price, USD per hour')
    .option('--target-attainment <x>', 'SLO attainment to meet, 0..1', String(DEFAULTS.plan.targetAttainment))
    .option('--seed <n>', 'seed for every random choice', String(DEFAULTS.seed))
    .option('--scrape-interval <s>', 'seconds between engine-metric scrapes the router sees (0 = perfect information)', String(DEFAULTS.scrapeIntervalS))
    .option('--jobs <n>', 'worker threads (default: available cores)')
    .option('--out <dir>', 'write DIR/plan.csv (every configuration simulated, frontier marked) and DIR/plan.html');
  addWorkloadOptions(cmd, { mix: true }).action((f: PlanFlags) =>
    runAction(async () => {
      const sloSpec = parseSlo(f.slo);
      const maxTotal = parseNumberFlag('--max-gpus', f.maxGpus, { integer: true, min: 1 });
      const types = parseGpuChoices(f.gpus, maxTotal);
      const policies = f.policies.split(',').map((p) => p.trim()).filter((p) => p !== '');
      if (policies.length === 0) throw new UserError(`--policies: expected a comma-separated list of policy names, got "${f.policies}"`);
      for (const p of policies) createPolicy(p);
      const budget = f.budget === undefined ? undefined : parseNumberFlag('--budget', f.budget, { min: 0 });
      const target = parseNumberFlag('--target-attainment', f.targetAttainment, { min: 0 });
      if (target > 1) throw new UserError(`--target-attainment: expected a fraction in 0..1, got "${f.targetAttainment}"`);
      const scrapeIntervalS = parseNumberFlag('--scrape-interval', f.scrapeInterval, { min: 0 });
      const jobs = f.jobs === undefined ? defaultJobs() : parseNumberFlag('--jobs', f.jobs, { integer: true, min: 1 });
      const { slo: _s, gpus: _g, maxGpus: _m, policies: _p, budget: _b, targetAttainment: _t, scrapeInterval: _si, jobs: _j, out: _o, ...rest } = f;
      const workload: WorkloadFlags = { ...rest, ...(rest.mix === undefined && rest.trace === undefined ? { trace: defaultTracePath() } : {}) };
      buildWorkload(workload);
      const extent = await workloadExtent(workload);
      if (extent.requests === 0) throw new UserError('the workload has no requests');
      const runner = createRunner(jobs);
      const started = performance.now();
      let result: PlanResult;
      try {
        result = await searchPlan({
          workload,
          slo: f.slo,
          sloSpec,
          types,
          maxTotal,
          policies,
          budgetMicro: budget === undefined ? undefined : Math.round(budget * 1e6),
          target,
          scrapeIntervalS,
          requests: extent.requests,
          arrivalSpanS: extent.arrivalSpanS,
          runner,
          onProgress: (stage, done, planned) => process.stderr.write(`plan: ${stage}: ${done}/${planned} (${((performance.now() - started) / 1e3).toFixed(0)} s)\n`),
        });
      } finally {
        await runner.close();
      }
      process.stdout.write(`${formatPlan(result, target)}\n`);
      process.stderr.write(`plan took ${((performance.now() - started) / 1e3).toFixed(1)} s\n`);
      if (f.out) {
        writeFileAtomic(join(f.out, 'plan.csv'), planCsv(result));
        writeFileAtomic(join(f.out, 'plan.html'), planHtml(result, target));
        process.stderr.write(`wrote ${join(f.out, 'plan.csv')}, ${join(f.out, 'plan.html')}\n`);
      }
      if (!result.best) process.exitCode = 1;
    }),
  );
}
