import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import { createRng } from '../../src/util/rng.js';

/** What the engine summed before `decodeEnds`: one `decodeSeconds` per step, added in order. */
function summed(cost: RooflineStepCost, seqs: number, kv: number, m: number, start: number): number[] {
  const ends = [start];
  let t = start;
  for (let i = 1; i <= m; i++) {
    t += cost.decodeSeconds(seqs, kv + (i - 1) * seqs);
    ends.push(t);
  }
  return ends;
}

test('roofline: decodeEnds gives the step-by-step sums of decodeSeconds bit for bit (dense, MoE, TP; cached and uncached batch sizes)', () => {
  const rng = createRng(11);
  for (const profile of ['llama-3.1-8b@h100-sxm', 'qwen3-30b-a3b@h100-sxm', 'qwen3-32b@h100-sxm-tp2']) {
    const d = resolveDeployment({ profile });
    const cost = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
    const ends = new Float64Array(65);
    for (let i = 0; i < 300; i++) {
      // Batch sizes the parts cache holds, plus one past its bound (priced uncached).
      const seqs = i === 0 ? 70_000 : 1 + Math.floor(rng.next() * 300);
      const kv = seqs * (1 + Math.floor(rng.next() * 3000));
      const m = 1 + Math.floor(rng.next() * 64);
      const start = rng.next() * 86_400;
      // A fresh cost half of the time: the first use of a batch size fills the cache inside decodeEnds.
      const c = rng.next() < 0.5 ? cost : new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
      ends[0] = start;
      const last = c.decodeEnds(seqs, kv, m, ends);
      const want = summed(new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients), seqs, kv, m, start);
      assert.deepEqual([...ends.subarray(0, m + 1)], want, `${profile} seqs=${seqs} kv=${kv} m=${m}`);
      assert.equal(last, want[m]);
    }
  }
});
