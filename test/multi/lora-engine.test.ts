import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type Sequence } from '../../src/engine/engine.js';
import { LoraSlots, loraAdapterBytes } from '../../src/engine/lora.js';
import { engineConfig, linearCost } from '../helpers/fixtures.js';
import { createRng } from '../../src/util/rng.js';
import { getModel, resolveDeployment } from '../../src/profiles/catalog.js';
import type { Request } from '../../src/workload/request.js';

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

test('max_loras 1: a second adapter waits for the first to leave, and each load adds its time to the step (hand-checked)', () => {
  const first = new Map<string, number>();
  const done = new Map<string, number>();
  const e = new Engine(engineConfig({ lora: { maxLoras: 1, loadSeconds: 0.1 } }), linearCost, {
    firstToken: (s, t) => first.set(s.req.id, t),
    finished: (s, t) => done.set(s.req.id, t),
  });
  const req = (id: string, adapter: string): Request => ({ id, arrivalS: 0, inputTokens: 8, outputTokens: 2, adapter });
  e.add(req('A', 'a'), 0);
  e.add(req('B', 'b'), 0);
  const run = (until: number): void => {
    while (!Number.isNaN(e.nextEventTime) && e.nextEventTime <= until) e.advance(e.nextEventTime);
  };
  run(0.29);
  // A: load 0.1 + prefill of 8 tokens (0.018) → first token 0.118; one decode step (0.011) → done 0.129.
  // B waits (its adapter would be a second one), then evicts a: 0.129 + 0.1 + 0.018 = 0.247, done 0.258.
  assert.ok(close(first.get('A') as number, 0.118), String(first.get('A')));
  assert.ok(close(done.get('A') as number, 0.129), String(done.get('A')));
  assert.ok(close(first.get('B') as number, 0.247), String(first.get('B')));
  assert.ok(close(done.get('B') as number, 0.258), String(done.get('B')));
  assert.deepEqual([e.lora?.loads, e.lora?.evictions], [2, 1]);
  // A resident adapter costs nothing to reuse.
  e.add(req('C', 'b'), 0.3);
  run(1);
  assert.ok(close(first.get('C') as number, 0.318), String(first.get('C')));
  assert.deepEqual([e.lora?.loads, e.lora?.evictions], [2, 1]);
});

test('invariant: under a random adapter-heavy load with preemptions, no batch mixes more than max_loras adapters, and every request finishes', () => {
  for (const maxLoras of [1, 2, 4]) {
    const rng = createRng(`lora-${maxLoras}`);
    let finished = 0;
    const e = new Engine(engineConfig({ numGpuBlocks: 60, maxNumSeqs: 16, lora: { maxLoras, loadSeconds: 0.02 } }), linearCost, {
      firstToken: () => undefined,
      finished: () => finished++,
    });
    const check = (): void => {
      const adapters = new Set(e.runningSequences().map((s: Sequence) => s.req.adapter).filter((a) => a !== undefined));
      assert.ok(adapters.size <= maxLoras, `running set mixes ${adapters.size} adapters (max ${maxLoras})`);
      assert.ok((e.lora as LoraSlots).residentAdapters().length <= maxLoras);
    };
    let t = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      t += rng.next() * 0.01;
      while (!Number.isNaN(e.nextEventTime) && e.nextEventTime <= t) {
        e.advance(e.nextEventTime);
        check();
      }
      const adapter = rng.next() < 0.15 ? undefined : `ad-${rng.int(7)}`;
      e.add({ id: `r${i}`, arrivalS: t, inputTokens: 4 + rng.int(40), outputTokens: 1 + rng.int(30), adapter }, t);
      check();
    }
    for (let steps = 0; !Number.isNaN(e.nextEventTime) && steps < 100_000; steps++) {
      e.advance(e.nextEventTime);
      check();
    }
    assert.equal(finished, n, `max_loras ${maxLoras}: every request finished`);
    assert.ok(e.counters.preemptions > 0, 'the load preempts (the invariant held across preemption)');
  }
});

test('adapter load time comes from the profile: rank-16 weights of Llama-3.1-8B over 25 GB/s plus 2 ms', () => {
  const m = getModel('llama-3.1-8b');
  // Per layer Σ(in + out): q 8192, k 5120, v 5120, o 8192, gate 18432, up 18432, down 18432 = 81,920.
  assert.equal(loraAdapterBytes(m, 16), 2 * 16 * 81_920 * 32);
  const d = resolveDeployment({ gpu: 'h100-sxm', model: 'llama-3.1-8b', engine: { max_loras: 4 } });
  assert.equal(d.engine.lora?.maxLoras, 4);
  assert.ok(close(d.engine.lora?.loadSeconds ?? NaN, (2 * 16 * 81_920 * 32) / 25e9 + 0.002));
  const fast = resolveDeployment({ gpu: 'h100-sxm', model: 'llama-3.1-8b', engine: { max_loras: 2, max_lora_rank: 64, lora_load_gbps: 50, lora_load_overhead_ms: 0 } });
  assert.ok(close(fast.engine.lora?.loadSeconds ?? NaN, (2 * 64 * 81_920 * 32) / 50e9));
  assert.equal(resolveDeployment({ gpu: 'h100-sxm' }).engine.lora, undefined, 'no max_loras: no LoRA');
});

test('simulate: lora-affinity swaps adapters less often than least-request on a Zipf adapter mix', async () => {
  const { Simulation } = await import('../../src/sim/simulator.js');
  const { createPolicy } = await import('../../src/routing/registry.js');
  const deployment = resolveDeployment({ gpu: 'h100-sxm', model: 'llama-3.1-8b', engine: { max_loras: 2 } });
  const fleet = [0, 1, 2].map((i) => ({ name: `w${i}`, deployment }));
  const rng = createRng('lora-sim');
  const reqs: Request[] = [];
  let t = 0;
  for (let i = 0; i < 600; i++) {
    t += rng.next() * 0.08;
    const a = Math.min(11, Math.floor(Math.pow(rng.next(), 2) * 12));
    reqs.push({ id: `r${i}`, arrivalS: t, inputTokens: 200 + rng.int(400), outputTokens: 20 + rng.int(60), adapter: `ad-${a}` });
  }
  const loads: Record<string, number> = {};
  for (const p of ['least-request', 'lora-affinity']) {
    const sim = new Simulation({ fleet, policy: createPolicy(p), requests: reqs, seed: 3, scrapeIntervalS: 0.05, timeseriesIntervalS: 10 });
    const r = await sim.run();
    assert.equal(r.summary.completed, 600, p);
    loads[p] = sim.engines.reduce((n, e) => n + (e.lora?.loads ?? 0), 0);
  }
  assert.ok(loads['lora-affinity'] < loads['least-request'], JSON.stringify(loads));
});
