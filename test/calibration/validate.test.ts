import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compareStats, groundTruthDeployment, loadGroundTruth, simulateGroundTruth } from '../../src/calibration/ground-truth.js';
import { sharedDataDir } from '../helpers/fixtures.js';
import { speedModelOf } from '../../src/profiles/step-cost-factory.js';

const data = sharedDataDir();

test('calibration: TTFT/TPOT/E2E means within 5% and p90 within 10% of real vLLM on the RTX 4090 run', { skip: data ? false : 'shared/data not found beside the checkout' }, async () => {
  const gt = await loadGroundTruth(join(data as string, 'vllm-ground-truth', 'rtx4090-llama-3.1-8b'));
  assert.equal(gt.requests.length, 300);
  const d = groundTruthDeployment(gt);
  // From the measured operator tables alone: no coefficient fitted to this end-to-end run.
  assert.match(speedModelOf(d), /^measured operator tables/);
  const rows = compareStats(await simulateGroundTruth(gt, d), gt.real);
  for (const r of rows) {
    if (r.stat === 'mean') assert.ok(Math.abs(r.errorPct) <= 5, `${r.metric} mean error ${r.errorPct.toFixed(2)}%`);
    if (r.stat === 'p90') assert.ok(Math.abs(r.errorPct) <= 10, `${r.metric} p90 error ${r.errorPct.toFixed(2)}%`);
  }
});
