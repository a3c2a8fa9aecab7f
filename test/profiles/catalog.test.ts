import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveNumGpuBlocks, getGpu, getModel, resolveDeployment, calibratedCoefficients } from '../../src/profiles/catalog.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';

test('KV blocks derived from memory land within 1% of what vLLM measured on the RTX 4090', () => {
  const blocks = deriveNumGpuBlocks(getGpu('rtx-4090'), getModel('llama-3.1-8b'), 1, 0.9, 16, calibratedCoefficients());
  assert.ok(Math.abs(blocks - 2588) / 2588 < 0.01, `derived ${blocks}`);
});

test('TP splits weights and KV across GPUs; a model that does not fit is an error', () => {
  const one = resolveDeployment({ gpu: 'h100-sxm', model: 'qwen3-32b' });
  const two = resolveDeployment({ gpu: 'h100-sxm', model: 'qwen3-32b', tp: 2 });
  assert.ok(two.engine.numGpuBlocks > 2 * one.engine.numGpuBlocks, 'TP2 frees the second copy of nothing and doubles memory');
  assert.throws(() => resolveDeployment({ gpu: 'a10', model: 'qwen3-32b' }), /leaves no memory for the KV cache/);
});

test('vLLM default token budget depends on GPU memory', () => {
  assert.equal(resolveDeployment({ gpu: 'l20' }).engine.maxNumBatchedTokens, 2048);
  assert.equal(resolveDeployment({ gpu: 'h100-sxm' }).engine.maxNumBatchedTokens, 8192);
  assert.equal(resolveDeployment({ gpu: 'l20', engine: { max_num_batched_tokens: 4096 } }).engine.maxNumBatchedTokens, 4096);
});

test('roofline: decode is bandwidth-bound, faster GPUs are faster, longer contexts cost more', () => {
  const c = calibratedCoefficients();
  const model = getModel('llama-3.1-8b');
  const l20 = new RooflineStepCost(getGpu('l20'), model, 1, c);
  const h100 = new RooflineStepCost(getGpu('h100-sxm'), model, 1, c);
  assert.ok(h100.decodeSeconds(8, 8000) < l20.decodeSeconds(8, 8000));
  assert.ok(l20.decodeSeconds(8, 64000) > l20.decodeSeconds(8, 8000));
  // Weight streaming dominates a small decode batch: ~15 GB at 864 GB/s × 0.85 ≈ 20 ms.
  const t = l20.decodeSeconds(1, 1000);
  assert.ok(t > 0.019 && t < 0.024, `l20 decode ${t}`);
  // decodeSeconds equals seconds() of the same all-decode shape, bit for bit.
  assert.equal(l20.decodeSeconds(17, 12345), l20.seconds({ tokens: 17, seqs: 17, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: 12345 }));
  const tp2 = new RooflineStepCost(getGpu('h100-sxm'), getModel('qwen3-32b'), 2, c);
  assert.ok(tp2.decodeSeconds(1, 1000) > 0);
});

test('fleet strings name workers per GPU and accept shipped profile names', () => {
  const f = parseFleet('l20:2,a10,qwen3-32b@h100-sxm-tp2');
  assert.deepEqual(f.map((w) => w.name), ['l20-0', 'l20-1', 'a10-0', 'h100-sxm-0']);
  assert.equal(f[3].deployment.tp, 2);
  assert.equal(f[3].deployment.model.id, 'qwen3-32b');
  assert.equal(f[0].deployment.model.id, 'llama-3.1-8b');
});
