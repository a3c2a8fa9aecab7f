import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compareStats, groundTruthDeployment, loadGroundTruth, simulateGroundTruth } from '../../src/calibration/ground-truth.js';
import { sharedDataDir } from '../helpers/fixtures.js';
import { speedModelOf } from '../../src/profiles/step-cost-factory.js';
import { runCli } from '../helpers/cli.js';

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

test('router validate --cross prints one row per left-out GPU, the decode/prefill split and the per-operator bias; a missing operator directory is one clear line', { skip: data ? false : 'shared/data not found beside the checkout', timeout: 180_000 }, () => {
  const r = runCli(['validate', '--cross', '--operators', join(data as string, 'operator-profiles')]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  for (const gpu of ['a100-80g-sxm', 'a40', 'h100-sxm', 'rtx-4090']) {
    const rows = lines.filter((l) => l.startsWith(`${gpu} `));
    // The main table's row (13 columns with the predicting fit) and the per-operator row (4 GEMMs).
    assert.equal(rows.length, 2, `${gpu}: ${rows.join(' | ')}`);
    assert.equal((rows[1].match(/[+-]\d+\.\d%/g) ?? []).length, 4, rows[1]);
  }
  assert.match(r.stdout, /≤64 tok med\|err\|\s+>64 tok med\|err\|/);
  const bad = runCli(['validate', '--cross', '--operators', '/nonexistent/operator-profiles']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /\/nonexistent\/operator-profiles: operator profiles not found/);
});
