import type { Command } from 'commander';
import { join } from 'node:path';
import { compareStats, defaultGroundTruthDir, groundTruthDeployment, loadGroundTruth, simulateGroundTruth, type ErrorRow } from '../calibration/ground-truth.js';
import { formatLooTable, leaveOneGpuOut } from '../calibration/cross-gpu-fit.js';
import { loadOperatorDataset } from '../calibration/operator-data.js';
import { runAction } from './errors.js';
import { speedModelOf } from '../profiles/step-cost-factory.js';
import { sharedDataDir } from '../workload/shared-data.js';
import { PACKAGE_ROOT } from '../profiles/catalog.js';

export function formatErrorTable(rows: ErrorRow[]): string {
  const out = ['metric    stat   simulated        real   error'];
  for (const r of rows) {
    out.push(`${r.metric.padEnd(8)}  ${r.stat.padEnd(4)}  ${r.sim.toFixed(1).padStart(10)}  ${r.real.toFixed(1).padStart(10)}  ${(r.errorPct >= 0 ? '+' : '') + r.errorPct.toFixed(1)}%`);
  }
  return out.join('\n');
}

interface ValidateFlags {
  data?: string;
  json?: boolean;
  roofline?: boolean;
  cross?: boolean;
  operators?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Replay the real vLLM RTX 4090 run (shared/data/vllm-ground-truth) in the simulator and print simulated vs real TTFT/TPOT/E2E; --cross: leave-one-GPU-out check of the roofline on measured operator timings')
    .option('--data <dir>', 'ground-truth directory (meta.json, workload.jsonl, requests.jsonl)')
    .option('--roofline', 'price the run with the cross-GPU roofline instead of the 4090\'s measured operator tables')
    .option('--cross', 'leave one GPU out: fit the roofline on the other GPUs\' operator timings, predict the left-out GPU\'s, print the error per operator class and GPU')
    .option('--operators <dir>', 'operator-profiles directory for --cross (default: shared/data/operator-profiles)')
    .option('--json', 'print the comparison as JSON')
    .action((flags: ValidateFlags) =>
      runAction(async () => {
        if (flags.cross) {
          const rows = leaveOneGpuOut(loadOperatorDataset(flags.operators ?? join(sharedDataDir() ?? join(PACKAGE_ROOT, '..', 'shared', 'data'), 'operator-profiles')));
          if (flags.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          else process.stdout.write(`leave one GPU out: |predicted − measured| / measured; a step = one (model, TP, tokens) point, Σ ops × runs per step\n${formatLooTable(rows)}\n`);
          return;
        }
        const gt = await loadGroundTruth(flags.data ?? defaultGroundTruthDir());
        let deployment = groundTruthDeployment(gt);
        if (flags.roofline) deployment = { ...deployment, operators: undefined };
        const sim = await simulateGroundTruth(gt, deployment);
        const rows = compareStats(sim, gt.real);
        if (flags.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else process.stdout.write(`ground truth: ${gt.dir} (${gt.requests.length} requests)\nspeed model: ${deployment.name}: ${speedModelOf(deployment)}; no coefficient fitted to end-to-end data\n${formatErrorTable(rows)}\n`);
      }),
    );
}
