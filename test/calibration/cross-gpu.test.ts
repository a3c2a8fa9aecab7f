import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fitCoefficientsFile, type CoefficientsFile } from '../../src/calibration/coefficients-fit.js';
import { predictUs, START } from '../../src/calibration/cross-gpu-fit.js';
import { defaultGroundTruthDir } from '../../src/calibration/ground-truth.js';
import { PROFILES_DIR } from '../../src/profiles/catalog.js';
import { sharedDataDir } from '../helpers/fixtures.js';

const data = sharedDataDir();

test('GEMM operator model on one hand-computed case', () => {
  // M = 64 tokens through a 4096×4096 matrix on 100 TFLOPS / 1000 GB/s with η_c 0.5, m½ 64, η_b 0.8, τ 2 µs:
  // compute = 2·64·4096² / (1e8 FLOP/µs · 0.5 · 0.5) = 85.9 µs; memory = 2·(4096² + 64·8192) / (1e6 B/µs · 0.8) = 43.3 µs.
  const p = { ...START, gemm_efficiency: 0.5, gemm_half_tokens: 64, bandwidth_efficiency: 0.8, gemm_launch_us: 2 };
  const t = predictUs({ cls: 'gemm', m: 64, n: 4096, k: 4096, bytes: 0 }, { effective_tflops: 100, effective_bandwidth_gbps: 1000 }, p);
  assert.ok(Math.abs(t - (2 + (2 * 64 * 4096 * 4096) / (1e8 * 0.25))) < 1e-9, String(t));
});

test('the shipped roofline coefficients are the cross-GPU fit on operator data, and leave-one-GPU-out meets 10% on the datacenter GPUs', { skip: data ? false : 'shared/data not found beside the checkout', timeout: 120_000 }, () => {
  const fit = fitCoefficientsFile(join(data as string, 'operator-profiles'), join(defaultGroundTruthDir(), 'meta.json'));
  const shipped = JSON.parse(readFileSync(join(PROFILES_DIR, 'coefficients.json'), 'utf8')) as CoefficientsFile;
  assert.deepEqual(shipped.coefficients, fit.coefficients);
  assert.deepEqual(shipped.by_architecture, fit.by_architecture);
  assert.deepEqual(fit.fit.gpus, ['a100-80g-sxm', 'a40', 'h100-sxm', 'rtx-4090']);
  for (const r of fit.fit.leave_one_gpu_out) {
    // The RTX 4090 runs closer to its (boost-corrected) peaks than the datacenter GPUs it is
    // predicted from (docs/speed-model.md: 16% median, not the 10% goal); the others transfer within 10%.
    if (r.gpu !== 'rtx-4090') assert.ok(r.step_median_err <= 0.1, `${r.gpu}: median step error ${r.step_median_err}`);
    // Its boost clock (not its timings) took it from 20.4% to 16.2%: a regression past 18% means the facts stopped reaching the fit.
    else assert.ok(r.step_median_err <= 0.18, `rtx-4090: median step error ${r.step_median_err}`);
    assert.ok(r.decode_step_median_err >= 0 && r.prefill_step_median_err >= 0);
  }
});
