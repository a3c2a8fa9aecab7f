import type { Command } from 'commander';
import { compareStats, defaultGroundTruthDir, groundTruthDeployment, loadGroundTruth, simulateGroundTruth, type ErrorRow } from '../calibration/ground-truth.js';
import { runAction } from './errors.js';
import { speedModelOf } from '../profiles/step-cost-factory.js';

export function formatErrorTable(rows: ErrorRow[]): string {
  const out = ['metric    stat   simulated        real   error'];
  for (const r of rows) {
    out.push(`${r.metric.padEnd(8)}  ${r.stat.padEnd(4)}  ${r.sim.toFixed(1).padStart(10)}  ${r.real.toFixed(1).padStart(10)}  ${(r.errorPct >= 0 ? '+' : '') + r.errorPct.toFixed(1)}%`);
  }
  return out.join('\n');
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Replay the real vLLM RTX 4090 run (shared/data/vllm-ground-truth) in the simulator and print simulated vs real TTFT/TPOT/E2E')
    .option('--data <dir>', 'ground-truth directory (meta.json, workload.jsonl, requests.jsonl)')
    .option('--json', 'print the comparison as JSON')
    .action((flags: { data?: string; json?: boolean }) =>
      runAction(async () => {
        const gt = await loadGroundTruth(flags.data ?? defaultGroundTruthDir());
        const deployment = groundTruthDeployment(gt);
        const sim = await simulateGroundTruth(gt, deployment);
        const rows = compareStats(sim, gt.real);
        if (flags.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else process.stdout.write(`ground truth: ${gt.dir} (${gt.requests.length} requests)\nspeed model: ${deployment.name}: ${speedModelOf(deployment)}, no coefficient fitted to end-to-end data\n${formatErrorTable(rows)}\n`);
      }),
    );
}
