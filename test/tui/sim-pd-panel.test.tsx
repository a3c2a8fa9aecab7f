import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { SimDashboard } from '../../src/tui/sim-dashboard.js';
import { SimSnapshotBuilder, type SimDashboardSnapshot, type WallState } from '../../src/tui/sim-snapshot.js';
import { PdSnapshotTracker } from '../../src/tui/sim-pd.js';
import { Simulation } from '../../src/sim/simulator.js';
import { createPolicy } from '../../src/routing/registry.js';
import { parseFleet, type FleetWorker } from '../../src/profiles/fleet.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { summaryJson } from '../../src/report/text.js';
import type { Request } from '../../src/workload/request.js';

const p = (p50: number, p99: number) => ({ p50, p99 });
const lines = (frame: string | undefined): string[] => (frame ?? '').split('\n').map((l) => l.trimEnd());

function pdSnap(): SimDashboardSnapshot {
  return {
    policy: 'prefix-cache',
    simTimeS: 50,
    traceEndS: 100,
    traceRequests: 400,
    arrived: 200,
    completed: 150,
    rejected: 0,
    inFlight: 50,
    queued: 0,
    wallS: 5,
    speed: 10,
    etaS: 5,
    workers: [
      { name: 'prefill-l20-0', gpu: 'l20', running: 2, waiting: 5, kvUsage: 0.25, prefixHitRate: 0.5, served: 100 },
      { name: 'decode-l20-0', gpu: 'l20', running: 30, waiting: 0, kvUsage: 0.75, prefixHitRate: NaN, served: 80 },
      { name: 'decode-l20-1', gpu: 'l20', running: 28, waiting: 0, kvUsage: 0.5, prefixHitRate: NaN, served: 70 },
    ],
    rolling: { count: 150, ttftMs: p(80, 500), tpotMs: p(38.5, 49), e2eMs: p(7000, 40000) },
    sloAttainment: null,
    sloClasses: [],
    series: [],
    state: 'running',
    refreshMs: 250,
    pace: null,
    pd: {
      roles: ['prefill', 'decode', 'decode'],
      prefillPolicy: 'least-request',
      decodePolicy: 'prefix-cache',
      prefilling: 7,
      waitingForBlocks: 3,
      inTransfer: 2,
      waitingForSlot: 1,
      disaggregated: 190,
      local: 10,
      transferredGb: 12.345,
      linkUtilisation: 0.25,
      gbPerS: 2.5,
    },
  };
}

test('simulate dashboard, PD fleet: prefill and decode pools under their policies, then transfers and KV link use', () => {
  const { lastFrame, unmount } = render(<SimDashboard s={pdSnap()} color={false} size={{ columns: 200, rows: 60 }} />);
  const f = lines(lastFrame());
  unmount();
  assert.deepEqual(f.slice(6, 16), [
    'prefill pool · policy least-request · 1 workers',
    'worker         gpu  running  waiting          KV usage         hit rate  served',
    'prefill-l20-0  l20        2        5  ████░░░░░░░░░░░░  25.0%     50.0%     100',
    'decode pool · policy prefix-cache · 2 workers',
    'worker        gpu  running  waiting          KV usage         hit rate  served',
    'decode-l20-0  l20       30        0  ████████████░░░░  75.0%         -      80',
    'decode-l20-1  l20       28        0  ████████░░░░░░░░  50.0%         -      70',
    'KV transfer 7 prefilling · 3 waiting for decode blocks · 2 in flight · 1 waiting for a slot',
    '            190 moved (12.35 GB), 10 prefilled by their decode worker',
    'KV links    ████░░░░░░░░░░░░ 25.0% busy · 2.50 GB/s since the last frame',
  ]);
  assert.equal(f[17], 'latency ms (last 150)     p50      p99');
});

test('PD tracker: KV link busy share = wire seconds / simulated seconds per prefill worker, on a hand-computed case', async () => {
  const d = resolveDeployment({ gpu: 'l20' });
  const link = { all: { gbps: 10, latencyUs: 100 }, pairs: new Map() };
  const fleet: FleetWorker[] = [
    { name: 'p', role: 'prefill', group: 'p', deployment: d, kvLinks: link },
    { name: 'd', role: 'decode', group: 'd', deployment: d },
  ];
  const req: Request = { id: 'r0', arrivalS: 0, inputTokens: 1024, outputTokens: 4 };
  const sim = new Simulation({ fleet, policy: createPolicy('least-request'), requests: [req], seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 1, pd: { prefillPolicy: createPolicy('least-request'), thresholdTokens: 0 } });
  const tracker = new PdSnapshotTracker(sim);
  assert.ok(Number.isNaN(tracker.snapshot()?.linkUtilisation ?? 0), 'no simulated time yet');
  await sim.run();
  const s = tracker.snapshot();
  assert.ok(s);
  // 1,023 tokens × 131,072 B over 10 GB/s (the 100 µs latency is not link occupancy), over the run's simulated time.
  const wireS = (1023 * 131072) / 10e9;
  assert.ok(Math.abs(s.linkUtilisation - wireS / sim.clock.now()) < 1e-12);
  assert.ok(Math.abs(s.gbPerS - (1023 * 131072) / 1e9 / sim.clock.now()) < 1e-12);
  assert.deepEqual([s.prefilling, s.waitingForBlocks, s.inTransfer, s.waitingForSlot, s.disaggregated, s.local], [0, 0, 0, 0, 1, 0]);
});

test('PD dashboard snapshots during a run: states add up, the run is unchanged, colocated snapshots carry no PD panel', async () => {
  const reqs = (): Request[] => [...syntheticRequests({
    seed: 5,
    rate: 40,
    count: 1500,
    input: { kind: 'lognormal', mean: 900, sigma: 1, min: 2, max: 7000 },
    output: { kind: 'lognormal', mean: 150, sigma: 0.8, min: 1, max: 1000 },
  })];
  const wall: WallState = { wallS: 1, state: 'running', refreshMs: 250, pace: null, traceEndS: null, traceRequests: null };
  const make = (onBatch?: (sim: Simulation) => void): Simulation => new Simulation({
    fleet: parseFleet('prefill=l20:1;decode=l20:2'),
    policy: createPolicy('least-request'),
    requests: reqs(),
    seed: 2,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    pd: { prefillPolicy: createPolicy('least-request'), thresholdTokens: 0 },
    onBatch,
    batchEvents: 512,
  });
  const snaps: SimDashboardSnapshot[] = [];
  let builder: SimSnapshotBuilder | null = null;
  const watched = make((sim) => {
    builder ??= new SimSnapshotBuilder(sim);
    snaps.push(builder.snapshot(wall));
  });
  const a = await watched.run();
  const b = await make().run();
  assert.equal(summaryJson(a.summary), summaryJson(b.summary), 'the panel only reads');
  assert.ok(snaps.length >= 3);
  let lastMoved = 0;
  for (const s of snaps) {
    const pd = s.pd;
    assert.ok(pd);
    assert.deepEqual(pd.roles, ['prefill', 'decode', 'decode']);
    for (const v of [pd.prefilling, pd.waitingForBlocks, pd.inTransfer, pd.waitingForSlot]) assert.ok(v >= 0);
    assert.ok(pd.prefilling + pd.waitingForBlocks + pd.inTransfer <= pd.disaggregated);
    assert.ok(pd.disaggregated >= lastMoved);
    lastMoved = pd.disaggregated;
    assert.ok(!(pd.linkUtilisation < 0));
  }
  const end = (builder as SimSnapshotBuilder | null)?.snapshot(wall).pd;
  assert.ok(end && a.summary.pd);
  assert.equal(end.disaggregated, a.summary.pd.disaggregated);
  assert.ok(Math.abs(end.transferredGb - a.summary.pd.transferred_gb) < 1e-9);
  const colocated = new Simulation({ fleet: parseFleet('l20:2'), policy: createPolicy('least-request'), requests: reqs().slice(0, 50), seed: 2, scrapeIntervalS: 1, timeseriesIntervalS: 1 });
  await colocated.run();
  assert.equal(new SimSnapshotBuilder(colocated).snapshot(wall).pd, undefined);
});
