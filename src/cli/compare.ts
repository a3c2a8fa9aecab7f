import { appendFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { parseFleet } from '../profiles/fleet.js';
import { createPolicy, parsePolicyOptions } from '../routing/registry.js';
import {
  COMPARE_FORMATS,
  evaluateFailOn,
  formatCompare,
  parseFailOn,
  readSummaryFile,
  rowFromCells,
  rowFromSummary,
  type CompareFormat,
  type CompareRow,
} from '../report/compare-table.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { parseNumberFlag, runAction } from './errors.js';
import { addSimulationOptions } from './simulation-options.js';
import { addWorkloadOptions } from './workload-options.js';
import { checkOutputDir } from './output-path.js';
import { simulateFromFlags, type SimulateFlags } from './simulate.js';
import type { CompareWorkerReply } from './compare-worker.js';
import { sloSetup, usesSloTables } from './profile-aibrix-derive.js';
import { loadSloProfiles } from './profile-aibrix.js';

export interface CompareFlags extends Omit<SimulateFlags, 'policy' | 'fleet' | 'json' | 'out' | 'tui' | 'pace' | 'format'> {
  policies?: string;
  fleet: string[];
  /** Table format. */
  format: string;
  traceFormat?: string;
  baseline?: string;
  failOn?: string;
  jobs?: string;
  out?: string;
}

/** One simulation to run: its label in the table and the simulate flags that produce it. */
export interface CompareJob {
  run: string;
  flags: SimulateFlags;
}

/** Every policy on every fleet, same workload and seed; labels say policy, and fleet when there are several. */
export function compareJobs(f: CompareFlags): CompareJob[] {
  const policies = (f.policies ?? DEFAULTS.policy).split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (policies.length === 0) throw new UserError(`--policies: expected a comma-separated list of policy names, got "${f.policies}"`);
  const fleets = f.fleet.length > 0 ? f.fleet : [DEFAULTS.fleet];
  // Everything but compare's own flags describes the workload and the simulation, as for simulate.
  const { policies: _policies, fleet: _fleet, format: _table, traceFormat, baseline: _baseline, failOn: _failOn, jobs: _jobs, out: _out, ...common } = f;
  const jobs: CompareJob[] = [];
  for (const fleet of fleets) {
    for (const policy of policies) {
      jobs.push({ run: fleets.length > 1 ? `${policy}@${fleet}` : policy, flags: { ...common, format: traceFormat, fleet, policy } });
    }
  }
  return jobs;
}

/** Runs jobs one after another on this thread. */
export async function runSequential(jobs: CompareJob[]): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const j of jobs) rows.push(rowFromSummary(j.run, (await simulateFromFlags(j.flags)).summary));
  return rows;
}

/** Runs jobs on up to `threads` worker threads; rows come back in job order. */
export async function runParallel(jobs: CompareJob[], threads: number): Promise<CompareRow[]> {
  const rows = new Array<CompareRow>(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const k = next++;
      const reply = await runInWorker(jobs[k].flags);
      if (!reply.ok) throw reply.userError ? new UserError(reply.message) : new Error(`${jobs[k].run}: ${reply.message}`);
      rows[k] = rowFromCells(jobs[k].run, reply.cells);
    }
  };
  await Promise.all(Array.from({ length: Math.min(threads, jobs.length) }, lane));
  return rows;
}

/**
 * With an slo* policy in the comparison and no --slo, every policy is judged by the default SLO
 * (the one slo plans for), and each fleet's tables are derived here, once, before the threads
 * start: they then all read the cache instead of sweeping the same deployments side by side.
 */
async function prepareSloJobs(jobs: CompareJob[], sloFlag: string | undefined): Promise<void> {
  const slo = jobs.filter((j) => usesSloTables(j.flags.policy));
  if (slo.length === 0) return;
  if (sloFlag === undefined) {
    process.stderr.write(`router: no --slo given: every policy is judged by the default SLO ${DEFAULTS.slo} (the one ${slo[0].flags.policy} plans for)\n`);
    for (const j of jobs) j.flags = { ...j.flags, slo: DEFAULTS.slo };
  }
  const done = new Set<string>();
  for (const j of slo) {
    if (done.has(j.flags.fleet)) continue;
    done.add(j.flags.fleet);
    await sloSetup(j.flags.policy, j.flags.slo, parseFleet(j.flags.fleet), j.flags.sloProfile?.length ? loadSloProfiles(j.flags.sloProfile) : [], (line) => process.stderr.write(`${line}\n`));
  }
}

function runInWorker(flags: SimulateFlags): Promise<CompareWorkerReply> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./compare-worker.js', import.meta.url), { workerData: flags });
    let reply: CompareWorkerReply | null = null;
    w.once('message', (m: CompareWorkerReply) => (reply = m));
    w.once('error', reject);
    w.once('exit', (code) => (reply ? resolve(reply) : reject(new Error(`compare worker exited with code ${code} and no result`))));
  });
}

export function registerCompare(program: Command): void {
  const cmd = program
    .command('compare')
    .description('Run several policies and/or fleets on the same trace and seed (or read saved summary.csv files) and print one table with the best value per column marked')
    .argument('[summaries...]', 'saved summary.csv (or summary JSON) files to include')
    .option('--policies <a,b,c>', `policies to run (default: ${DEFAULTS.policy} unless only files are given)`);
  addSimulationOptions(cmd, { fleet: 'repeatable' })
    .option('--format <format>', `table format: ${COMPARE_FORMATS.join(', ')}`, 'text')
    .option('--baseline <file>', 'summary.csv or JSON to compare against with --fail-on')
    .option('--fail-on <rules>', "exit 1 when a rule is violated, e.g. 'p99_ttft_ms>+10%,goodput_rps<-5%'")
    .option('--jobs <n>', 'worker threads for the simulations (default: available cores)')
    .option('--out <dir>', 'write the comparison as DIR/compare.csv');
  addWorkloadOptions(cmd, { mix: true, formatFlag: '--trace-format' })
    .action((files: string[], flags: CompareFlags) =>
      runAction(async () => {
        if (flags.out) checkOutputDir('--out', flags.out);
        const format = flags.format as CompareFormat;
        if (!COMPARE_FORMATS.includes(format)) throw new UserError(`--format: expected one of ${COMPARE_FORMATS.join(', ')}, got "${flags.format}"`);
        const rules = flags.failOn === undefined ? [] : parseFailOn(flags.failOn);
        if (flags.baseline && rules.length === 0) throw new UserError('--baseline: pass --fail-on rules to check against it');
        const baseline = flags.baseline ? readSummaryFile(flags.baseline) : null;
        const rows: CompareRow[] = files.flatMap((f) => labelled(f, readSummaryFile(f), files.length));
        const simulate = flags.policies !== undefined || flags.fleet.length > 0 || files.length === 0;
        if (simulate) {
          const jobs = compareJobs(flags);
          // Flag mistakes surface here, once, before any thread starts.
          for (const j of jobs) {
            createPolicy(j.flags.policy, parsePolicyOptions(j.flags.policyOpt));
            parseFleet(j.flags.fleet);
          }
          await prepareSloJobs(jobs, flags.slo);
          const threads = flags.jobs === undefined ? availableParallelism() : parseNumberFlag('--jobs', flags.jobs, { integer: true, min: 1 });
          rows.push(...(threads > 1 && jobs.length > 1 ? await runParallel(jobs, threads) : await runSequential(jobs)));
        }
        const table = formatCompare(rows, format);
        process.stdout.write(`${table}\n`);
        if (flags.out) {
          const path = join(flags.out, 'compare.csv');
          writeFileAtomic(path, formatCompare(rows, 'csv'));
          process.stderr.write(`wrote ${path}\n`);
        }
        const summaryFile = process.env.GITHUB_STEP_SUMMARY;
        if (summaryFile) appendFileSync(summaryFile, `### router compare\n\n${formatCompare(rows, 'markdown')}\n\n`);
        const violations = evaluateFailOn(rules, rows, baseline);
        if (violations.length > 0) {
          for (const v of violations) process.stderr.write(`router: --fail-on: ${v.message}\n`);
          process.exitCode = 1;
        }
      }),
    );
}

/** Rows from a file keep their policy label unless several files would make labels ambiguous. */
function labelled(file: string, rows: CompareRow[], nFiles: number): CompareRow[] {
  return nFiles > 1 ? rows.map((r) => ({ ...r, run: `${r.run} (${file})` })) : rows;
}
