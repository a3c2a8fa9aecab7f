import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { sweepAibrixProfile } from '../../src/sim/aibrix-sweep.js';
import { createPolicy } from '../../src/routing/registry.js';
import { WORKER_CAPACITY } from '../../src/routing/slo/load.js';
import { ProfileTable } from '../../src/routing/slo/profile.js';
import type { SloPolicy } from '../../src/routing/policies/slo.js';
import { parseFleet, type FleetWorker } from '../../src/profiles/fleet.js';
import { requestsCsv } from '../../src/report/csv.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import type { Request } from '../../src/workload/request.js';

let tables: ProfileTable[] | undefined;

/** Small-grid AIBrix tables for the fleet's two deployments, swept on the simulated engine. */
async function fleetTables(fleet: FleetWorker[]): Promise<ProfileTable[]> {
  if (tables) return tables;
  const seen = new Map<string, FleetWorker>();
  for (const w of fleet) if (!seen.has(w.deployment.name)) seen.set(w.deployment.name, w);
  tables = [];
  for (const w of seen.values()) {
    const p = await sweepAibrixProfile(w, {
      outputs: [16, 64, 256, 1024],
      inputs: [128, 512, 2048],
      rates: [1, 2, 4, 8, 16],
      samples: 100,
      minTputFraction: 0.9,
      slos: { percentile: 99, e2e: 30 },
      seed: 1,
      created: 0,
    });
    tables.push(new ProfileTable(p));
  }
  return tables;
}

const workload = (count: number, rate: number, seed = 5): Request[] => [
  ...syntheticRequests({
    seed,
    rate,
    count,
    input: { kind: 'lognormal', mean: 700, sigma: 1, min: 8, max: 6000 },
    output: { kind: 'lognormal', mean: 180, sigma: 0.9, min: 1, max: 700 },
  }),
];

/** Wraps an slo* policy so every dispatch is checked against the capacity rule and counted. */
function audited(name: string, opts: Record<string, string>) {
  const p = createPolicy(name, opts) as SloPolicy;
  const dispatches = new Map<string, number>();
  let overCapacity = 0;
  const onDispatch = p.onDispatch.bind(p);
  p.onDispatch = (req, w, ctx) => {
    const before = p.utilisation(w.index);
    onDispatch(req, w, ctx);
    const after = p.utilisation(w.index);
    // The only way above capacity: one request alone on an idle worker (it could never fit otherwise).
    if (after > WORKER_CAPACITY + 1e-9 && before !== 0) overCapacity++;
    dispatches.set(req.id, (dispatches.get(req.id) ?? 0) + 1);
  };
  return { policy: p, dispatches, overCapacity: () => overCapacity };
}

async function run(policyName: string, requests: Request[], opts: Record<string, string> = {}, seed = 1, edit?: (t: ProfileTable) => ProfileTable) {
  const fleet = parseFleet('a10:1,l20:3');
  const a = audited(policyName, opts);
  const sloProfiles = (await fleetTables(fleet)).map(edit ?? ((t) => t));
  const sim = new Simulation({ fleet, policy: a.policy, requests, seed, scrapeIntervalS: 1, timeseriesIntervalS: 5, sloProfiles });
  const result = await sim.run();
  return { ...a, sim, result };
}

function assertEveryRequestEndsOnce(requests: Request[], r: Awaited<ReturnType<typeof run>>): void {
  const log = r.result.log;
  assert.equal(log.length, requests.length, 'every request ends exactly once in the log');
  assert.equal(new Set(log.ids).size, requests.length, 'no request id appears twice');
  for (const [id, n] of r.dispatches) assert.equal(n, 1, `request ${id} dispatched ${n} times`);
  // Completed requests were dispatched; requests rejected by the router never were.
  for (let i = 0; i < log.length; i++) {
    const d = r.dispatches.get(log.ids[i]) ?? 0;
    if (log.statuses[i] === 'ok') assert.equal(d, 1, `completed ${log.ids[i]} without a dispatch`);
    else if (log.workers[i] === '') assert.equal(d, 0, `router-rejected ${log.ids[i]} was dispatched`);
  }
  assert.equal(r.sim.router.queuedTotal, 0);
  assert.equal(r.sim.router.inFlightTotal, 0);
  for (const v of r.sim.views) assert.equal(v.inFlight, 0);
}

test('pull mode under overload: never above capacity, nothing lost or dispatched twice, timeouts rejected', async () => {
  const requests = workload(4000, 60);
  const r = await run('slo', requests, { queue_timeout_s: '20', queue_max: '500' });
  assertEveryRequestEndsOnce(requests, r);
  assert.equal(r.overCapacity(), 0);
  const reasons = r.result.log.reasons.filter((x): x is string => x !== undefined);
  assert.ok(reasons.some((x) => x.startsWith('router queue timeout')), 'the overload must produce queue timeouts');
  assert.ok(reasons.some((x) => x.startsWith('router queue full')), 'and a full queue');
  assert.equal(r.result.summary.rejected_429, reasons.filter((x) => /^(router queue|SLO unattainable)/.test(x)).length);
  assert.ok(r.result.summary.completed > 500, `completed ${r.result.summary.completed}`);
  // Waiting happens in the router, so the engines' own queues stay short: queue_ms covers both.
  assert.ok(r.result.summary.queue_ms.p99 > 1000);
});

test('pull mode invariants hold for pack-load, with the oracle, and with unbounded AIBrix settings', async () => {
  const requests = workload(2500, 25, 9);
  for (const [policy, opts] of [
    ['slo-pack-load', {}],
    ['slo', { predictor: 'oracle' }],
    ['slo', { queue_max: '0', queue_timeout_s: '0' }],
  ] as const) {
    const r = await run(policy, requests, opts);
    assertEveryRequestEndsOnce(requests, r);
    assert.equal(r.overCapacity(), 0, `${policy} ${JSON.stringify(opts)}`);
  }
});

test('requests routed through the fallback respect capacity too (no SLO to rank by; cold predictions on dead cells)', async () => {
  // Without slos every request is unranked (AIBrix errNoSLO) and goes through least-request, booked
  // with its 1-token cell; with the 16-token row zeroed every cold prediction lands on a dead cell.
  const noSlo = (t: ProfileTable): ProfileTable => new ProfileTable({ ...t.json, slos: undefined });
  const zeroFirstRow = (t: ProfileTable): ProfileTable => new ProfileTable({ ...t.json, tputs: t.json.tputs.map((r, i) => (i === 0 ? r.map(() => 0) : r)) });
  const requests = workload(2500, 30, 17);
  for (const [edit, opts] of [[noSlo, {}], [zeroFirstRow, {}], [zeroFirstRow, { unattainable: 'fallback' }]] as const) {
    const r = await run('slo', requests, opts, 1, edit);
    assertEveryRequestEndsOnce(requests, r);
    assert.equal(r.overCapacity(), 0, JSON.stringify(opts));
    assert.ok((r.sim.router.branches.get('slo-fallback') ?? 0) > 20, `fallback dispatches: ${r.sim.router.branches.get('slo-fallback')}`);
  }
});

test('pull mode is deterministic for a seed', async () => {
  const requests = workload(1500, 30, 11);
  const a = await run('slo', requests, {}, 3);
  const b = await run('slo', requests, {}, 3);
  assert.equal(requestsCsv(a.result.log), requestsCsv(b.result.log));
});

test('push slo-least-load never queues; SLO classes split goodput by per-request SLO', async () => {
  const base = workload(600, 10, 13);
  const requests = base.map((r, i) => (i % 3 === 0 ? { ...r, slo: { e2eMs: 60_000 } } : r));
  const fleet = parseFleet('a10:1,l20:3');
  const sim = new Simulation({ fleet, policy: createPolicy('slo-least-load'), requests, seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 5, sloProfiles: await fleetTables(fleet), slo: { tpotMs: 50, percentile: 99 } });
  const { summary, log } = await sim.run();
  assert.equal(log.length, 600);
  const reasons = log.reasons.filter((x): x is string => x !== undefined);
  assert.ok(reasons.every((x) => x.startsWith('SLO unattainable')), 'a push policy never queues, so never times out');
  const classes = summary.slo_classes ?? [];
  assert.deepEqual(classes.map((c) => [c.slo_class, c.requests]), [['tpot_ms=50', 400], ['tpot_ms=50,e2e_ms=60000', 200]]);
  const met = classes.reduce((a, c) => a + c.met, 0);
  assert.equal(summary.goodput_rps, met / summary.duration_s);
  assert.equal(summary.slo_attainment, met / 600);
});
