import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import type { StepShape } from '../../src/engine/step-cost.js';
import { createRng } from '../../src/util/rng.js';

/** A step's price from `terms` alone, as `seconds` computed it before any per-token-count cache. */
function uncached(cost: RooflineStepCost, s: StepShape, eff: { gemm: number; attn: number; bw: number }, overheadS: number, perSeqS: number): number {
  const x: [number, number, number] = [1 / eff.gemm, 1 / eff.attn, 1 / eff.bw];
  const t: [number, number, number] = [0, 0, 0];
  const known = cost.terms(s, x, t);
  return t[0] * x[0] + t[1] * x[1] + t[2] * x[2] + known + overheadS + perSeqS * s.seqs;
}

test('roofline: mixed steps priced from the per-token-count cache equal the uncached sums bit for bit (dense, MoE, TP)', () => {
  const rng = createRng(5);
  for (const profile of ['llama-3.1-8b@h100-sxm', 'qwen3-30b-a3b@h100-sxm', 'qwen3-32b@h100-sxm-tp2']) {
    const d = resolveDeployment({ profile });
    const c = d.coefficients;
    const eff = { gemm: c.gemm_efficiency, attn: c.attn_efficiency, bw: c.bandwidth_efficiency };
    const warm = new RooflineStepCost(d.gpu, d.model, d.tp, c);
    // Few token counts, many shapes: most prices after the first come from the cache.
    for (let i = 0; i < 400; i++) {
      const tokens = 1 + Math.floor(rng.next() * 40) * 97;
      const seqs = 1 + Math.floor(rng.next() * Math.min(tokens, 64));
      const prefillKvTokens = rng.next() < 0.2 ? 0 : Math.floor(rng.next() * 8000);
      const s: StepShape = { tokens, seqs, prefillAttnPairs: Math.floor(rng.next() * 4e6), prefillKvTokens, decodeKvTokens: Math.floor(rng.next() * 100_000) };
      const cold = new RooflineStepCost(d.gpu, d.model, d.tp, c);
      const want = uncached(cold, s, eff, c.step_overhead_ms / 1e3, c.per_seq_overhead_us / 1e6);
      assert.equal(warm.seconds(s), want, `${profile} ${JSON.stringify(s)}`);
      assert.equal(cold.seconds(s), want);
    }
    // A shape with a token count past the cache's bound takes the uncached path.
    const big: StepShape = { tokens: 70_000, seqs: 3, prefillAttnPairs: 1e9, prefillKvTokens: 70_000, decodeKvTokens: 5 };
    assert.equal(warm.seconds(big), uncached(warm, big, eff, c.step_overhead_ms / 1e3, c.per_seq_overhead_us / 1e6));
  }
});
