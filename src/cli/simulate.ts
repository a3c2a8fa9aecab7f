import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { PACKAGE_ROOT } from '../profiles/catalog.js';
import { parseFleet } from '../profiles/fleet.js';
import { createPolicy, parsePolicyOptions } from '../routing/registry.js';
import { Simulation, type SimulationResult } from '../sim/simulator.js';
import { parseSlo } from '../metrics/slo.js';
import { buildWorkload, type WorkloadFlags } from '../workload/workload.js';
import { addWorkloadOptions } from './workload-options.js';
import { formatSummary, summaryJson } from '../report/text.js';
import { writeReports } from '../report/write.js';
import { collect, parseNumberFlag, runAction } from './errors.js';
import { loadSloProfiles } from './profile-aibrix.js';

export interface SimulateFlags extends WorkloadFlags {
  fleet: string;
  policy: string;
  policyOpt: string[];
  seed: string;
  scrapeInterval: string;
  slo?: string;
  /** AIBrix profile files/directories for the slo* policies. */
  sloProfile?: string[];
  json?: boolean;
  out?: string;
}

/** The shipped default trace, resolved against the package so `npx router simulate` works anywhere. */
export function defaultTracePath(): string {
  return join(PACKAGE_ROOT, DEFAULTS.trace);
}

/** Builds and runs one simulation from CLI flags (shared by `simulate` and `compare`). */
export async function simulateFromFlags(f: SimulateFlags, onBatch?: (sim: Simulation) => void | Promise<void>): Promise<SimulationResult> {
  const seed = parseNumberFlag('--seed', f.seed, { integer: true });
  const scrapeIntervalS = parseNumberFlag('--scrape-interval', f.scrapeInterval, { min: 0 });
  const slo = f.slo === undefined ? undefined : parseSlo(f.slo);
  const fleet = parseFleet(f.fleet);
  const policy = createPolicy(f.policy, parsePolicyOptions(f.policyOpt));
  const { requests } = buildWorkload(f, defaultTracePath());
  const sim = new Simulation({
    fleet,
    policy,
    requests,
    seed,
    scrapeIntervalS,
    timeseriesIntervalS: DEFAULTS.timeseriesIntervalS,
    slo,
    sloProfiles: f.sloProfile?.length ? loadSloProfiles(f.sloProfile) : undefined,
    onBatch,
  });
  if (policy.name.startsWith('slo') && !sim.views.some((v) => v.sloProfile?.hasLoadModel)) {
    process.stderr.write(`router: note: no worker has AIBrix SLO tables with an e2e table (give --slo-profile, see \`router profile export-aibrix\`), so ${policy.name} routes everything through its fallback\n`);
  }
  const started = process.hrtime.bigint();
  const result = await sim.run();
  result.summary.wall_s = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}

export function registerSimulate(program: Command): void {
  const cmd = program
    .command('simulate')
    .description('Replay a trace against simulated GPU workers under a routing policy and report latency, goodput, cache hits, balance and cost')
    .option('--trace <file>', `trace file (default: the shipped ${DEFAULTS.trace})`)
    .option('--fleet <spec>', 'workers: GPU[:COUNT],... (model llama-3.1-8b unless a profile name like qwen3-32b@h100-sxm-tp2 is given) or a fleet file (.json/.yaml)', DEFAULTS.fleet)
    .option('--policy <name>', 'routing policy (see `router policies`)', DEFAULTS.policy)
    .option('--policy-opt <k=v>', 'policy option, repeatable', collect, [])
    .option('--seed <n>', 'seed for every random choice', String(DEFAULTS.seed))
    .option('--scrape-interval <s>', 'seconds between engine-metric scrapes the router sees (0 = perfect information)', String(DEFAULTS.scrapeIntervalS))
    .option('--slo <spec>', 'SLO, e.g. ttft_ms=2000,tpot_ms=50,e2e_ms=20000,percentile=99')
    .option('--slo-profile <path>', 'AIBrix ModelGPUProfile file or directory of them for the slo* policies, matched to workers by deployment name (else GPU id); repeatable', collect, [])
    .option('--json', 'print the summary as JSON on stdout')
    .option('--out <dir>', 'write summary.csv, requests.csv and timeseries.csv into DIR');
  addWorkloadOptions(cmd, { mix: true })
    .action((flags: SimulateFlags) =>
      runAction(async () => {
        let lastLine = Date.now();
        const progress = (sim: Simulation): Promise<void> => {
          const now = Date.now();
          if (now - lastLine >= 5000) {
            lastLine = now;
            const p = sim.progress();
            process.stderr.write(`simulated ${p.simTimeS.toFixed(1)} s: ${p.arrived} arrived, ${p.completed} completed, ${p.inFlight} in flight\n`);
          }
          return new Promise((r) => setImmediate(r));
        };
        const result = await simulateFromFlags(flags, progress);
        if (flags.out) {
          const files = writeReports(flags.out, result);
          process.stderr.write(`wrote ${files.join(', ')}\n`);
        }
        process.stdout.write(flags.json ? `${summaryJson(result.summary)}\n` : `${formatSummary(result.summary)}\n`);
      }),
    );
}
