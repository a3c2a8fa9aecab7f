import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { createPolicy } from '../../src/routing/registry.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { syntheticRequests, type SyntheticOptions } from '../../src/workload/synthetic.js';
import { requestsCsv, timeseriesCsv } from '../../src/report/csv.js';
import type { Request } from '../../src/workload/request.js';
import type { FleetWorker } from '../../src/profiles/fleet.js';

const workload = (over: Partial<SyntheticOptions> = {}): Request[] => [
  ...syntheticRequests({
    seed: 7,
    rate: 30,
    count: 1500,
    input: { kind: 'lognormal', mean: 600, sigma: 1, min: 4, max: 6000 },
    output: { kind: 'lognormal', mean: 200, sigma: 0.8, min: 1, max: 1500 },
    sharedPrefix: { groups: 8, prefixTokens: 512 },
    ...over,
  }),
];

/** A small-KV fleet, so preemptions and cache evictions happen. */
function tightFleet(): FleetWorker[] {
  const d = resolveDeployment({ gpu: 'l20', engine: { num_gpu_blocks: 900 } });
  return [0, 1, 2].map((i) => ({ name: `w${i}`, deployment: d }));
}

async function simulate(o: { requests: Request[]; policy?: string; seed?: number; fastDecode?: boolean; scrape?: number; fleet?: FleetWorker[] }) {
  const sim = new Simulation({
    fleet: o.fleet ?? parseFleet('l20:2,a10:1'),
    policy: createPolicy(o.policy ?? 'power-of-two'),
    requests: o.requests,
    seed: o.seed ?? 1,
    scrapeIntervalS: o.scrape ?? 1,
    timeseriesIntervalS: 1,
    fastDecode: o.fastDecode,
  });
  return { sim, result: await sim.run() };
}

test('same seed gives byte-identical requests.csv; another seed does not', async () => {
  const reqs = workload();
  const a = requestsCsv((await simulate({ requests: reqs, seed: 3 })).result.log);
  const b = requestsCsv((await simulate({ requests: reqs, seed: 3 })).result.log);
  const c = requestsCsv((await simulate({ requests: reqs, seed: 4 })).result.log);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('advancing pure-decode stretches in one computation is exact', async () => {
  // Tight KV (preemptions, evictions), scrapes at an odd interval (mid-stretch materialisation)
  // and frequent arrivals (stretches cut): the results must match step-by-step simulation exactly.
  const reqs = workload({ count: 800 });
  for (const scrape of [0, 0.37]) {
    const fast = await simulate({ requests: reqs, fleet: tightFleet(), scrape, fastDecode: true });
    const slow = await simulate({ requests: reqs, fleet: tightFleet(), scrape, fastDecode: false });
    assert.equal(requestsCsv(fast.result.log), requestsCsv(slow.result.log), `scrape=${scrape}`);
    assert.equal(timeseriesCsv(fast.result.timeseries), timeseriesCsv(slow.result.timeseries));
    assert.ok(fast.sim.engines.reduce((a, e) => a + e.counters.preemptions, 0) > 0, 'the tight fleet preempts');
    assert.ok(fast.sim.engines.reduce((a, e) => a + e.counters.steps, 0) < slow.sim.engines.reduce((a, e) => a + e.counters.steps, 0));
  }
});

test('every request ends exactly once and tokens are conserved', async () => {
  const reqs = workload({ count: 3000, rate: 60 });
  for (const policy of ['random', 'round-robin', 'least-request', 'power-of-two']) {
    const { sim, result } = await simulate({ requests: reqs, policy, fleet: tightFleet() });
    const log = result.log;
    assert.equal(log.length, reqs.length, policy);
    assert.equal(new Set(log.ids).size, reqs.length, `${policy}: no duplicates`);
    assert.equal(log.completed + log.rejected, reqs.length);
    const byId = new Map(reqs.map((r) => [r.id, r]));
    let out = 0;
    for (let i = 0; i < log.length; i++) {
      const r = byId.get(log.ids[i]) as Request;
      assert.ok(r, `unknown id ${log.ids[i]}`);
      if (log.statuses[i] === 'ok') {
        assert.equal(log.outputTokens.get(i), r.outputTokens);
        assert.equal(log.inputTokens.get(i), r.inputTokens);
        assert.ok(log.ttftMs.get(i) >= log.queueMs.get(i));
        assert.ok(log.e2eMs.get(i) >= log.ttftMs.get(i));
        out += r.outputTokens;
      }
    }
    // Every output token was generated once; recomputation after preemption generates none twice.
    const generated = sim.engines.reduce((a, e) => a + e.counters.generationTokens, 0);
    assert.equal(generated, out, `${policy}: generated tokens`);
    assert.equal(sim.router.inFlightTotal, 0);
    for (const e of sim.engines) assert.equal(e.pool.used, 0, `${policy}: blocks leaked`);
    const served = result.summary.workers.reduce((a, w) => a + w.requests, 0);
    assert.equal(served, log.completed);
  }
});

test('a request too large for the KV cache is rejected, not lost', async () => {
  const reqs: Request[] = [
    { id: 'small', arrivalS: 0, inputTokens: 100, outputTokens: 10 },
    { id: 'huge', arrivalS: 0.1, inputTokens: 900 * 16, outputTokens: 10 },
  ];
  const { result } = await simulate({ requests: reqs, fleet: tightFleet() });
  assert.equal(result.summary.completed, 1);
  assert.equal(result.summary.rejected, 1);
  assert.equal(result.log.statuses[result.log.ids.indexOf('huge')], 'rejected');
});

test('round-robin spreads requests evenly; summary fields are consistent', async () => {
  const reqs = workload({ count: 300, rate: 5 });
  const { result } = await simulate({ requests: reqs, policy: 'round-robin', fleet: parseFleet('l20:3') });
  assert.deepEqual(result.summary.workers.map((w) => w.requests), [100, 100, 100]);
  assert.equal(result.summary.imbalance, 1);
  assert.ok(result.summary.prefix_hit_rate > 0.3, 'shared prefixes hit');
  assert.ok(result.summary.cost_usd > 0);
  assert.equal(result.summary.goodput_rps, null);
});

test('a stopped run reports the requests still in flight as unfinished: every arrival is accounted for', async () => {
  const reqs = workload({ count: 1500 });
  let batches = 0;
  const sim = new Simulation({
    fleet: parseFleet('l20:2,a10:1'),
    policy: createPolicy('least-request'),
    requests: reqs,
    seed: 1,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    batchEvents: 256,
    // As the dashboard's `q` does: stop at a batch boundary mid-run.
    onBatch: (s) => {
      if (++batches === 2) s.stop();
    },
  });
  const r = await sim.run();
  const arrived = sim.progress().arrived;
  assert.ok(r.stopped && arrived > 0 && arrived < reqs.length, `stopped after ${arrived} arrivals`);
  assert.ok(r.log.unfinished > 0, 'something was in flight when the run stopped');
  assert.equal(r.log.length, arrived);
  assert.equal(r.summary.requests, arrived);
  assert.equal(r.summary.completed + r.summary.rejected + r.summary.unfinished, arrived);
  assert.equal(r.log.statuses.filter((x) => x === 'unfinished').length, r.summary.unfinished);
  assert.equal(new Set(r.log.ids).size, arrived);
  assert.match(requestsCsv(r.log), /,unfinished\n/);
});

test('a request id that repeats while the first is in flight is two placements: both release their worker', async () => {
  // The simulator's Router counts placements (driverTracksPlacements) instead of keeping them by id.
  const reqs = workload({ count: 200 }).map((r, i) => ({ ...r, id: `dup-${i % 3}` }));
  const { sim, result } = await simulate({ requests: reqs, policy: 'least-request' });
  assert.equal(result.summary.completed, reqs.length);
  assert.equal(sim.router.inFlightTotal, 0);
  for (const w of sim.views) assert.equal(w.inFlight, 0, `${w.name} in flight`);
  // A request refused by its worker (too large for the KV cache) is released there too.
  const big = [{ id: 'big', arrivalS: 0, inputTokens: 2_000_000, outputTokens: 10 }, ...workload({ count: 20 })];
  const r2 = await simulate({ requests: big, policy: 'least-request' });
  assert.equal(r2.result.summary.rejected, 1);
  for (const w of r2.sim.views) assert.equal(w.inFlight, 0, `${w.name} in flight`);
});
