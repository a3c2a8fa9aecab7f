import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import { stepCostFor } from '../../src/profiles/step-cost-factory.js';
import { Simulation } from '../../src/sim/simulator.js';
import { createPolicy } from '../../src/routing/registry.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';

test('MoE: expected experts touched per step grows with tokens towards all experts (uniform routing)', () => {
  const d = resolveDeployment({ profile: 'qwen3-30b-a3b@h100-sxm' });
  assert.equal(d.model.num_experts, 128);
  assert.equal(d.model.moe_intermediate_size, 768);
  const c = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
  // One token touches exactly its 8 experts; two touch 128·(1 − (120/128)²) = 15.5.
  assert.ok(Math.abs(c.expertsTouched(1) - 8) < 1e-12);
  assert.ok(Math.abs(c.expertsTouched(2) - 128 * (1 - (120 / 128) ** 2)) < 1e-12);
  assert.ok(c.expertsTouched(4096) > 127.99);
  // Decode at batch 1 reads the active experts only: far cheaper than reading all 30.5 B weights,
  // and a larger batch reads more expert weights per step.
  const allWeights = (d.model.params_b * 1e9 * 2) / (d.gpu.memory_bandwidth_gbps * 1e9);
  assert.ok(c.decodeSeconds(1, 1024) < allWeights / 3, `${c.decodeSeconds(1, 1024)} vs ${allWeights}`);
  assert.ok(c.decodeSeconds(64, 64 * 1024) > 2 * c.decodeSeconds(1, 1024));
});

async function run(profile: string): Promise<{ requests: number; ttft: number; tpot: number }> {
  const deployment = resolveDeployment({ profile });
  const sim = new Simulation({
    fleet: [{ name: 'w0', deployment }],
    policy: createPolicy('round-robin'),
    requests: syntheticRequests({ seed: 3, rate: 4, count: 60, input: { kind: 'lognormal', mean: 400, sigma: 0.8, min: 16, max: 4000 }, output: { kind: 'lognormal', mean: 150, sigma: 0.6, min: 4, max: 800 } }),
    seed: 1,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 10,
  });
  const r = await sim.run();
  return { requests: r.summary.requests, ttft: r.summary.ttft_ms.mean, tpot: r.summary.tpot_ms.mean };
}

test('a MoE deployment and TP 2 deployments (NVLink table, PCIe model) simulate to completion', async () => {
  for (const p of ['qwen3-30b-a3b@h100-sxm', 'qwen3-32b@h100-sxm-tp2', 'qwen3-32b@rtx-pro-6000-bse-tp2']) {
    const r = await run(p);
    assert.equal(r.requests, 60, p);
    assert.ok(r.ttft > 0 && r.tpot > 0 && Number.isFinite(r.tpot), `${p}: ${JSON.stringify(r)}`);
  }
});

test('TP 2: the NVLink deployment prices all-reduces from the measured table, the PCIe one from the ring model', () => {
  const nv = resolveDeployment({ profile: 'qwen3-32b@h100-sxm-tp2' });
  const pcie = resolveDeployment({ profile: 'qwen3-32b@rtx-pro-6000-bse-tp2' });
  const a = stepCostFor(nv) as RooflineStepCost;
  const b = stepCostFor(pcie) as RooflineStepCost;
  // 2 per layer × 64 layers of 2048 tokens × 5120 hidden × 2 B = 20 MiB each.
  assert.ok(a.commSeconds(2048) > 0 && b.commSeconds(2048) > a.commSeconds(2048), `${a.commSeconds(2048)} ${b.commSeconds(2048)}`);
});
