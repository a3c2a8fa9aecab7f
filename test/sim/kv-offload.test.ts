import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { createPolicy } from '../../src/routing/registry.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { stepCostFor } from '../../src/profiles/step-cost-factory.js';
import type { Request } from '../../src/workload/request.js';
import type { Deployment } from '../../src/profiles/types.js';
import { KvOffloadTiers } from '../../src/engine/kv-offload.js';

const tokens = (from: number, n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => from + i);

function run(d: Deployment, reqs: Request[]): Promise<ReturnType<Simulation['run']> extends Promise<infer R> ? R : never> {
  return new Simulation({ fleet: [{ name: 'w', deployment: d }], policy: createPolicy('round-robin'), requests: reqs, seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 1 }).run();
}

test('offload: a prefix evicted from HBM is found in the CPU tier, loaded back before the step, and priced', async () => {
  // 64 blocks of 16 tokens. A caches its 512-token prompt (32 blocks); C (900 new tokens) evicts
  // 25 of them; B repeats A's prompt plus 16 tokens: 7 blocks hit in HBM, 25 in the CPU tier.
  const hbm = resolveDeployment({ gpu: 'l20', engine: { num_gpu_blocks: 64 } });
  const withCpu: Deployment = { ...hbm, engine: { ...hbm.engine, kvOffload: { cpuGib: 1, cpuGbps: 10, diskGib: 0, diskGbps: 1 } } };
  const a = tokens(0, 512);
  const reqs: Request[] = [
    { id: 'A', arrivalS: 0, inputTokens: 512, outputTokens: 1, prefix: { kind: 'tokens', ids: a } },
    { id: 'C', arrivalS: 1, inputTokens: 900, outputTokens: 1, prefix: { kind: 'tokens', ids: tokens(100_000, 900) } },
    { id: 'B', arrivalS: 2, inputTokens: 528, outputTokens: 1, prefix: { kind: 'tokens', ids: Uint32Array.from([...a, ...tokens(50_000, 16)]) } },
  ];
  const plain = await run(hbm, reqs);
  const tiered = await run(withCpu, reqs);
  const row = (r: typeof plain, id: string): number => [...r.log.ids].indexOf(id);
  const bPlain = row(plain, 'B');
  const bTier = row(tiered, 'B');
  assert.equal(plain.log.cachedTokens.view()[bPlain], 7 * 16, 'HBM alone keeps 7 of the 32 blocks');
  assert.equal(tiered.log.cachedTokens.view()[bTier], 512, 'with the CPU tier the whole prompt prefix is cached');
  const cpu = tiered.summary.kv_offload?.tiers.find((t) => t.tier === 'cpu');
  assert.ok(cpu);
  assert.equal(cpu.hit_tokens, 25 * 16);
  const blockBytes = 131072 * 16;
  const loadS = (25 * blockBytes) / 10e9;
  assert.ok(Math.abs(cpu.load_s - loadS) < 1e-12);
  assert.ok(Math.abs(cpu.loaded_gb - (25 * blockBytes) / 1e9) < 1e-12);
  // B runs alone: its one step computes 16 tokens on 512 cached ones, after the load.
  const cost = stepCostFor(hbm);
  const step = cost.seconds({ tokens: 16, seqs: 1, prefillAttnPairs: 16 * (512 + 8), prefillKvTokens: 528, decodeKvTokens: 0, prefillChunks: 1 });
  assert.ok(Math.abs(tiered.log.ttftMs.view()[bTier] - (step + loadS) * 1e3) < 1e-6, `TTFT ${tiered.log.ttftMs.view()[bTier]} vs ${(step + loadS) * 1e3}`);
  // HBM counters stay vLLM's: the tier's hits are reported apart.
  assert.equal(tiered.summary.prefix_hit_rate, plain.summary.prefix_hit_rate);
  assert.ok(tiered.summary.kv_offload && tiered.summary.kv_offload.hit_rate_all_tiers > tiered.summary.prefix_hit_rate);
  assert.equal(plain.summary.kv_offload, undefined);
});

test('offload tiers: CPU evictions go down to disk, disk evictions are dropped, loads are priced per tier', () => {
  const t = new KvOffloadTiers({ cpuGib: 2 / 2 ** 30, cpuGbps: 1, diskGib: 3 / 2 ** 30, diskGbps: 0.5 }, 1);
  for (const h of [1, 2, 3, 4, 5, 6]) t.store(h);
  // CPU holds the 2 newest, disk the next 3; the oldest was dropped.
  assert.equal(t.match([5, 6], 0, 2), 2);
  assert.equal(t.match([2, 3, 4, 5, 6], 0, 5), 5);
  assert.equal(t.match([1, 2], 0, 2), 0);
  const s = t.load([4, 5, 6], 0, 3, 16);
  // One byte per block: 1 disk block at 0.5 GB/s, 2 CPU blocks at 1 GB/s.
  assert.ok(Math.abs(s - (1 / 0.5e9 + 2 / 1e9)) < 1e-18);
  const [cpu, disk] = t.stats();
  assert.deepEqual([cpu.tier, cpu.blocks, cpu.hitTokens, cpu.stored, cpu.evicted], ['cpu', 2, 32, 6, 4]);
  assert.deepEqual([disk.tier, disk.blocks, disk.hitTokens, disk.stored, disk.evicted], ['disk', 3, 16, 4, 1]);
});

test('offload tiers: a load refreshes LRU order, and order holds over long churn (slot reuse)', () => {
  const t = new KvOffloadTiers({ cpuGib: 3 / 2 ** 30, cpuGbps: 1, diskGib: 0, diskGbps: 1 }, 1);
  for (const h of [1, 2, 3]) t.store(h);
  t.load([1], 0, 1, 16); // 1 becomes the newest: 2 is now the oldest
  t.store(4);
  assert.equal(t.holds('cpu', 2), false);
  assert.deepEqual([1, 3, 4].map((h) => t.holds('cpu', h)), [true, true, true]);
  t.store(3); // already held: refreshed, not stored again
  t.store(5); // evicts 1 (oldest after 3 was refreshed)
  assert.equal(t.holds('cpu', 1), false);
  // 10,000 more distinct blocks through a 3-block tier: exactly the last three remain.
  for (let h = 100; h < 10_100; h++) t.store(h);
  assert.deepEqual([10_097, 10_098, 10_099, 10_096, 5].map((h) => t.holds('cpu', h)), [true, true, true, false, false]);
  const [cpu] = t.stats();
  assert.equal(cpu.blocks, 3);
  assert.equal(cpu.stored, 5 + 10_000);
  assert.equal(cpu.evicted, 5 + 10_000 - 3);
});
