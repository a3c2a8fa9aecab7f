/**
 * Fits the roofline coefficients on the real vLLM RTX 4090 run and writes profiles/coefficients.json.
 * Coordinate descent over physically bounded ranges, minimising the squared relative error of the
 * TTFT/TPOT/E2E means and p90s. Deterministic: the simulator is, and so is the search.
 * Run: npm run build && npm run calibrate [-- --dry-run]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareStats, defaultGroundTruthDir, groundTruthDeployment, loadGroundTruth, simulateGroundTruth, type ErrorRow } from '../src/calibration/ground-truth.js';
import { PROFILES_DIR } from '../src/profiles/catalog.js';
import type { Coefficients } from '../src/profiles/types.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { formatErrorTable } from '../src/cli/validate.js';

type Key = 'gemm_efficiency' | 'attn_efficiency' | 'bandwidth_efficiency' | 'step_overhead_ms' | 'per_seq_overhead_us';
const BOUNDS: Record<Key, [number, number]> = {
  gemm_efficiency: [0.3, 1.0],
  attn_efficiency: [0.2, 1.0],
  bandwidth_efficiency: [0.5, 0.95],
  step_overhead_ms: [0.5, 10],
  per_seq_overhead_us: [0, 100],
};

const gt = await loadGroundTruth(process.env.GROUND_TRUTH ?? defaultGroundTruthDir());
const file = join(PROFILES_DIR, 'coefficients.json');
const doc = JSON.parse(readFileSync(file, 'utf8')) as { _about: string; coefficients: Coefficients };

async function evaluate(c: Coefficients): Promise<{ loss: number; rows: ErrorRow[] }> {
  const rows = compareStats(await simulateGroundTruth(gt, groundTruthDeployment(gt, c)), gt.real);
  const loss = rows.filter((r) => r.stat === 'mean' || r.stat === 'p90').reduce((a, r) => a + r.errorPct ** 2, 0);
  return { loss, rows };
}

let best = { ...doc.coefficients };
let bestEval = await evaluate(best);
process.stdout.write(`start loss ${bestEval.loss.toFixed(3)}\n`);
for (const step of [0.2, 0.1, 0.05, 0.02]) {
  let improved = true;
  while (improved) {
    improved = false;
    for (const key of Object.keys(BOUNDS) as Key[]) {
      const [lo, hi] = BOUNDS[key];
      for (const dir of [1, -1]) {
        const v = Math.min(hi, Math.max(lo, Math.round(best[key] * (1 + dir * step) * 1e4) / 1e4));
        if (v === best[key]) continue;
        const cand = { ...best, [key]: v };
        const e = await evaluate(cand);
        if (e.loss < bestEval.loss - 1e-9) {
          best = cand;
          bestEval = e;
          improved = true;
          process.stdout.write(`loss ${e.loss.toFixed(3)}  ${key}=${v}\n`);
        }
      }
    }
  }
}
process.stdout.write(`${formatErrorTable(bestEval.rows)}\n${JSON.stringify(best)}\n`);
if (!process.argv.includes('--dry-run')) {
  writeFileAtomic(file, `${JSON.stringify({ ...doc, coefficients: best }, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}
