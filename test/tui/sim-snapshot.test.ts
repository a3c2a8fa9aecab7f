import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { createPolicy } from '../../src/routing/registry.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { SimSnapshotBuilder, type SimDashboardSnapshot, type WallState } from '../../src/tui/sim-snapshot.js';
import { SimDashboardController } from '../../src/tui/sim-app.js';
import { LatencyWindow } from '../../src/tui/rolling.js';
import { summaryJson } from '../../src/report/text.js';

const wall: WallState = { wallS: 2, state: 'running', refreshMs: 250, pace: null, traceEndS: 100, traceRequests: 3000 };

function makeSim(onBatch?: (sim: Simulation) => void | Promise<void>, count = 3000): Simulation {
  return new Simulation({
    fleet: parseFleet('l20:3'),
    policy: createPolicy('least-request'),
    requests: syntheticRequests({
      seed: 7,
      rate: 30,
      count,
      input: { kind: 'lognormal', mean: 1200, sigma: 0.6, min: 32, max: 8000 },
      output: { kind: 'exponential', mean: 150, min: 1, max: 1500 },
      sharedPrefix: { groups: 8, prefixTokens: 512 },
    }),
    seed: 1,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    slo: { ttftMs: 500, percentile: 99 },
    onBatch,
    batchEvents: 1024,
  });
}

test('LatencyWindow keeps the last N values and ignores NaN in percentiles', () => {
  const w = new LatencyWindow(4);
  for (const v of [1000, 1, 2, 3, 4]) w.record(v, v === 1 ? NaN : v * 10, v * 100);
  const l = w.latency();
  assert.equal(l.count, 4);
  // Window holds 1,2,3,4 (1000 fell out): p50 = 2.5, p99 = 3 + 0.97 = 3.97.
  assert.equal(l.ttftMs.p50, 2.5);
  assert.ok(Math.abs(l.ttftMs.p99 - 3.97) < 1e-9);
  // TPOT NaN for the 1 is skipped: 20,30,40 → p50 30.
  assert.equal(l.tpotMs.p50, 30);
  assert.deepEqual(new LatencyWindow(3).latency().e2eMs, { p50: NaN, p99: NaN });
});

test('snapshots during a run are consistent with the simulation and do not change its result', async () => {
  const snaps: SimDashboardSnapshot[] = [];
  let builder: SimSnapshotBuilder | null = null;
  const watched = makeSim((sim) => {
    builder ??= new SimSnapshotBuilder(sim, { maxColumns: 8 });
    snaps.push(builder.snapshot(wall));
  });
  const a = await watched.run();
  const b = await makeSim().run();
  // The dashboard only reads: identical summaries with and without it.
  assert.equal(summaryJson(a.summary), summaryJson(b.summary));
  assert.ok(snaps.length >= 3, `expected several batches, got ${snaps.length}`);
  for (let k = 1; k < snaps.length; k++) {
    assert.ok(snaps[k].simTimeS >= snaps[k - 1].simTimeS);
    assert.ok(snaps[k].completed >= snaps[k - 1].completed);
  }
  const last = snaps[snaps.length - 1];
  assert.equal(last.completed, a.summary.completed);
  // Served per worker matches the summary's per-worker request counts.
  assert.deepEqual(last.workers.map((w) => w.served), a.summary.workers.map((w) => w.requests));
  assert.deepEqual(last.workers.map((w) => w.name), ['l20-0', 'l20-1', 'l20-2']);
  assert.equal(last.rolling.count, Math.min(1000, a.summary.completed));
  assert.equal(last.sloAttainment !== null && last.sloAttainment > 0 && last.sloAttainment <= 1, true);
  // Per-class tallies are the summary's per-class figures (one class here: the run's --slo).
  assert.equal(last.sloClasses.length, 1);
  assert.deepEqual(
    last.sloClasses.map((c) => [c.name, c.requests, c.met, c.rejected]),
    (a.summary.slo_classes ?? []).map((c) => [c.slo_class, c.requests, c.met, c.rejected]),
  );
  // Charts: at most maxColumns columns of equal width covering the run, every completion counted once.
  assert.ok(last.series.length <= 8 && last.series.length >= 2);
  const width = last.series[0].t1S - last.series[0].t0S;
  let counted = 0;
  for (const [k, c] of last.series.entries()) {
    if (k < last.series.length - 1) assert.ok(Math.abs(c.t1S - c.t0S - width) < 1e-9);
    if (k > 0) assert.equal(c.t0S, last.series[k - 1].t0S + width);
    counted += c.completedPerS * (c.t1S - c.t0S);
  }
  assert.ok(Math.abs(counted - a.summary.completed) < 1e-6, `${counted} vs ${a.summary.completed}`);
  assert.equal(last.speed, last.simTimeS / 2);
  assert.equal(last.etaS, Math.max(0, 100 - last.simTimeS) / last.speed);
});

test('controller: p pauses the simulation at the next batch, p resumes, q stops it with reports intact', async () => {
  const c = new SimDashboardController({ stdout: process.stdout, stdin: process.stdin, color: false, pace: null });
  let batches = 0;
  let pausedSeen = false;
  const sim = makeSim(async (s) => {
    batches++;
    if (batches === 1) {
      c.key('p', false);
      setTimeout(() => {
        pausedSeen = c.paused && batches === 1;
        c.key('p', false);
      }, 50);
    }
    if (batches === 2) c.key('q', false);
    await c.onBatch(s);
  }, 6000);
  c.attach(sim);
  const r = await sim.run();
  assert.ok(pausedSeen, 'the run waited while paused');
  assert.equal(batches, 2);
  assert.equal(r.stopped, true);
  assert.ok(r.summary.requests > 0 && r.summary.requests < 6000);
  assert.equal(c.snapshot()?.state, 'stopping');
});

test('controller: + and - halve and double the refresh period within bounds', () => {
  const c = new SimDashboardController({ stdout: process.stdout, stdin: process.stdin, color: false, pace: null, refreshMs: 1000 });
  c.key('+', false);
  assert.equal(c.refreshMs, 500);
  c.key('+', false);
  c.key('+', false);
  assert.equal(c.refreshMs, 250);
  for (let i = 0; i < 10; i++) c.key('-', false);
  assert.equal(c.refreshMs, 4000);
  assert.equal(new SimDashboardController({ stdout: process.stdout, stdin: process.stdin, color: false, pace: null }).refreshMs, 500);
});
