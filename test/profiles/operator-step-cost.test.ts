import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDeployment, shippedDeployments } from '../../src/profiles/catalog.js';
import { OperatorTableStepCost } from '../../src/profiles/operator-step-cost.js';
import { AttentionGrid, interp1, type OperatorTablesJson } from '../../src/profiles/operator-tables.js';
import { AllReduceCost, pcieAllReduceSeconds } from '../../src/profiles/collectives.js';
import { stepCostFor, speedModelOf } from '../../src/profiles/step-cost-factory.js';
import type { Deployment } from '../../src/profiles/types.js';

/** A tiny measured profile whose step times are easy to add up by hand. */
function tiny(): OperatorTablesJson {
  return {
    origin: 'llmservingsim',
    data: 'test',
    attribution: 'test',
    per_layer: { tokens: [1, 3], ops: { a: [10, 30], b: [1, 1] } },
    once: { tokens: [1, 3], ops: { embedding: [2, 4] } },
    per_sequence: { seqs: [1, 2], ops: { lm_head: [100, 110] } },
    attention: {
      chunk: [0, 16],
      kv_prefill: [0, 16],
      n_decode: [0, 1, 2],
      kv_decode: [0, 16, 32],
      // chunk × kv_prefill × n_decode × kv_decode, kv_decode fastest
      us: [
        0, 0, 0, 5, 5, 7, 6, 6, 10, // chunk 0, kv_prefill 0
        0, 0, 0, 5, 5, 7, 6, 6, 10, // chunk 0, kv_prefill 16 (same: no prefill)
        20, 20, 20, 30, 30, 34, 40, 40, 48, // chunk 16, kv_prefill 0
        24, 24, 24, 36, 36, 40, 44, 44, 52, // chunk 16, kv_prefill 16
      ],
    },
  };
}

function deployment(tp = 1): Deployment {
  const d = resolveDeployment({ gpu: 'l20', engine: { max_num_seqs: 4, max_num_batched_tokens: 8 } });
  return { ...d, tp, model: { ...d.model, num_layers: 2 } };
}

test('interp1: piecewise linear, held below the first point, continued past the last', () => {
  assert.equal(interp1([1, 3], [10, 30], 2), 20);
  assert.equal(interp1([1, 3], [10, 30], 0.5), 10);
  assert.equal(interp1([1, 3], [10, 30], 5), 50);
});

test('operator tables: a decode step adds up per-layer ops × layers, once ops, attention and per-sequence ops', () => {
  const c = new OperatorTableStepCost(deployment(), tiny(), []);
  // 2 decodes over 24 KV tokens each (Σ 48): per layer a(2)=20 + b=1, attention(2 decodes, kv 24) = 8;
  // once: embedding(2) = 3; lm_head(2) = 110.
  const want = (2 * (20 + 1 + 8) + 3 + 110) / 1e6;
  assert.ok(Math.abs(c.decodeSeconds(2, 48) - want) < 1e-15, `${c.decodeSeconds(2, 48)} vs ${want}`);
  // decodeSeconds is seconds() of the all-decode shape, bit for bit (decode stretches rely on it).
  assert.equal(c.decodeSeconds(2, 48), c.seconds({ tokens: 2, seqs: 2, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: 48 }));
});

test('operator tables: a mixed step looks the prefill chunk and the decodes up together; extra chunks add their prefill time less the launch floor', () => {
  const d = deployment();
  const c = new OperatorTableStepCost(d, tiny(), []);
  // One chunk of 16 tokens over 8 cached + 1 decode over 16: tokens 17 → per-layer a(17) = 170, b = 1.
  // attention(16, 8, 1, 16) = mean of kv_prefill 0 and 16 planes = (30 + 36) / 2 = 33.
  const one = c.seconds({ tokens: 17, seqs: 2, prefillAttnPairs: 16 * (8 + 8), prefillKvTokens: 24, decodeKvTokens: 16, prefillChunks: 1 });
  const embedding = 4 + (17 - 3) * 1;
  assert.ok(Math.abs(one - (2 * (170 + 1 + 33) + embedding + 110) / 1e6) < 1e-12);
  // Two chunks of 16 (no cache), no decode: mean chunk looked up once (20), the second adds 20 − floor (5).
  const two = c.seconds({ tokens: 32, seqs: 2, prefillAttnPairs: 2 * 16 * 8, prefillKvTokens: 32, decodeKvTokens: 0, prefillChunks: 2 });
  assert.ok(Math.abs(two - (2 * (320 + 1 + 20 + 15) + (4 + 29) + 110) / 1e6) < 1e-12);
});

test('attention grid: decode rows resampled per batch size agree with the general lookup', () => {
  const g = new AttentionGrid(tiny().attention as NonNullable<OperatorTablesJson['attention']>, 4);
  for (const [n, kv] of [[1, 16], [2, 24], [1, 32], [2, 20]] as const) assert.ok(Math.abs(g.decodeUs(n, kv) - g.lookup(0, 0, n, kv)) < 1e-12);
});

test('all-reduce: PCIe ring model on one hand-computed case, and the measured table when there is one', () => {
  const d = deployment(2);
  // L20: PCIe Gen4 x16, 64 GB/s bidirectional → 32 GB/s one way × 0.75 = 24 GB/s; P2P allowed.
  // 1 MiB over TP 2: 2·(2−1)·(8 µs + 1048576 / (2 · 24e9)) = 2·(8e-6 + 21.845e-6) = 59.69 µs.
  const want = 2 * (8e-6 + 1048576 / (2 * 24e9));
  assert.ok(Math.abs(pcieAllReduceSeconds(d.gpu, 2, 1048576) - want) < 1e-15);
  assert.ok(Math.abs(want - 59.69e-6) < 0.01e-6);
  // RTX 4090 (P2P disabled): staged through the host, half the bandwidth and twice the latency.
  const g4090 = resolveDeployment({ gpu: 'rtx-4090' }).gpu;
  assert.ok(Math.abs(pcieAllReduceSeconds(g4090, 2, 1048576) - 2 * (16e-6 + 1048576 / (2 * 12e9))) < 1e-15);
  const measured = new AllReduceCost(d.gpu, 2, [{ gpu: d.gpu.id, tp: 2, link: 'test', bytes: [1000, 3000], us: [10, 30] }]);
  assert.equal(measured.seconds(2000), 20e-6);
  assert.match(measured.source, /measured/);
});

test('TP: a step pays two all-reduces of the activations per layer', () => {
  const d = deployment(2);
  const one = new OperatorTableStepCost(deployment(1), tiny(), []);
  const two = new OperatorTableStepCost(d, tiny(), []);
  const bytes = 2 * d.model.hidden_size * 2;
  const extra = 2 * 2 * pcieAllReduceSeconds(d.gpu, 2, bytes);
  assert.ok(Math.abs(two.decodeSeconds(2, 48) - one.decodeSeconds(2, 48) - extra) < 1e-12);
});

test('the shipped RTX 4090 profile is priced from its measured operator tables', () => {
  const d = resolveDeployment({ gpu: 'rtx-4090' });
  assert.ok(d.operators, 'llama-3.1-8b@rtx-4090 carries operator tables');
  assert.ok(stepCostFor(d) instanceof OperatorTableStepCost);
  assert.match(speedModelOf(d), /^measured operator tables \(llmservingsim\)$/);
  assert.match(shippedDeployments().get('llama-3.1-8b@rtx-4090')?.file.source ?? '', /MIT License, Copyright \(c\) 2024, CASYS Lab at KAIST/);
  // A profile measured at TP 1 does not price TP 2: that falls back to the roofline.
  assert.equal(resolveDeployment({ profile: 'llama-3.1-8b@rtx-4090', tp: 2 }).operators, undefined);
});
