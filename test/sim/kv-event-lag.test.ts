import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { SimKvEvents } from '../../src/sim/kv-events.js';
import { createPolicy } from '../../src/routing/registry.js';
import { createPolicyEnv } from '../../src/routing/env.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { requestsCsv } from '../../src/report/csv.js';
import type { Request } from '../../src/workload/request.js';
import type { FleetWorker } from '../../src/profiles/fleet.js';

/** Small KV (evictions happen), three workers. */
function fleet(): FleetWorker[] {
  const d = resolveDeployment({ gpu: 'l20', engine: { num_gpu_blocks: 1500 } });
  return [0, 1, 2].map((i) => ({ name: `w${i}`, deployment: d }));
}

const workload = (): Request[] => [
  ...syntheticRequests({
    seed: 5,
    rate: 8,
    count: 400,
    input: { kind: 'lognormal', mean: 300, sigma: 0.8, min: 4, max: 3000 },
    output: { kind: 'lognormal', mean: 60, sigma: 0.5, min: 1, max: 400 },
    sharedPrefix: { groups: 12, prefixTokens: 1024 },
  }),
];

async function run(requests: Request[], lagS: number, policyOpts: Record<string, string> = {}, policy = 'precise-prefix') {
  const kv = new SimKvEvents(lagS);
  const p = createPolicy(policy, policyOpts, createPolicyEnv(kv.indexFactory()));
  const sim = new Simulation({ fleet: fleet(), policy: p, requests, seed: 3, scrapeIntervalS: 1, timeseriesIntervalS: 1, kvEvents: kv.used ? kv : undefined });
  const result = await sim.run();
  return { kv, sim, result, csv: requestsCsv(result.log) };
}

test('simulate with --kv-event-lag is deterministic, and the lag matters when routing waits for events', async () => {
  const reqs = workload();
  const a = await run(reqs, 0.5, { speculative_ttl_s: '0' });
  const b = await run(reqs, 0.5, { speculative_ttl_s: '0' });
  assert.ok(a.kv.used);
  assert.equal(a.csv, b.csv);
  const now = await run(reqs, 0, { speculative_ttl_s: '0' });
  const late = await run(reqs, 30, { speculative_ttl_s: '0' });
  assert.notEqual(now.csv, a.csv);
  // Events 30 s late: siblings of a new prefix cannot know where it went; prompt-cache hits drop.
  assert.ok(late.result.summary.prefix_hit_rate < now.result.summary.prefix_hit_rate, `${late.result.summary.prefix_hit_rate} < ${now.result.summary.prefix_hit_rate}`);
  // The index holds at most what the engines cache.
  for (const v of now.sim.views) assert.ok(now.kv.store.blockCount(v.id) <= 1500);
});

test('precise index in the simulator: a prefix computed on a worker is routed back to it once its events arrive', async () => {
  const ids = Uint32Array.from({ length: 640 }, (_, i) => 1000 + i);
  const reqs: Request[] = [0, 5, 10].map((t, i) => ({ id: `r${i}`, arrivalS: t, inputTokens: 640, outputTokens: 4, prefix: { kind: 'tokens', ids } }));
  const r = await run(reqs, 0, { speculative_ttl_s: '0' });
  const workers = r.result.log.workers;
  assert.equal(workers[1], workers[0]);
  assert.equal(workers[2], workers[0]);
  // 639 tokens can hit (one is always computed): 39 full blocks of 16.
  assert.deepEqual([...r.result.log.cachedTokens.view()].slice(1), [624, 624]);
  const w = r.sim.views.find((v) => v.name === workers[0]);
  assert.ok(w);
  assert.equal(r.kv.store.blockCount(w.id), 40);
});

test('a policy that reads no KV events is simulated exactly as without the feed', async () => {
  const reqs = workload();
  const withFeed = await run(reqs, 0.5, {}, 'weighted');
  assert.equal(withFeed.kv.used, false);
  const plain = new Simulation({ fleet: fleet(), policy: createPolicy('weighted'), requests: reqs, seed: 3, scrapeIntervalS: 1, timeseriesIntervalS: 1 });
  assert.equal(withFeed.csv, requestsCsv((await plain.run()).log));
});
