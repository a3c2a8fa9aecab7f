/**
 * Dashboard overhead: the same simulation with and without the live dashboard. The dashboard run
 * uses exactly what `router simulate` on a terminal uses (smaller batches, the controller's batch
 * hook, ink rendering snapshots on a timer) into a discarding fake terminal.
 *
 * Figures are CPU seconds of this process (user + system), which a busy machine disturbs far less
 * than wall time; wall time is printed too. Rounds alternate the variants; the minimum is the
 * least-disturbed estimate.
 *
 *   npm run bench:tui [-- --requests 20000 --rounds 5]
 */
import { createElement } from 'react';
import { render } from 'ink';
import { PassThrough, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Simulation } from '../src/sim/simulator.js';
import { parseFleet } from '../src/profiles/fleet.js';
import { createPolicy } from '../src/routing/registry.js';
import { syntheticRequests } from '../src/workload/synthetic.js';
import { startSimDashboard } from '../src/tui/sim-app.js';
import { SimDashboard } from '../src/tui/sim-dashboard.js';
import { SimSnapshotBuilder } from '../src/tui/sim-snapshot.js';
import { DEFAULTS } from '../src/defaults.js';
import { LIVE_BATCH_EVENTS } from '../src/cli/simulate.js';
import { summaryJson } from '../src/report/text.js';

// Every ink mount registers an exit hook; this process mounts a dozen dashboards one after another.
process.setMaxListeners(64);

const { values } = parseArgs({ options: { requests: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' }, refresh: { type: 'string' } } });
const requests = Number(values.requests);
const rounds = Number(values.rounds);

function sim(onBatch: (s: Simulation) => Promise<void>, batchEvents?: number): Simulation {
  return new Simulation({
    fleet: parseFleet('l20:8'),
    policy: createPolicy('least-request'),
    requests: syntheticRequests({
      seed: 11,
      rate: 60,
      count: requests,
      input: { kind: 'lognormal', mean: 1500, sigma: 0.8, min: 16, max: 12000 },
      output: { kind: 'exponential', mean: 200, min: 1, max: 2000 },
      sharedPrefix: { groups: 32, prefixTokens: 768 },
    }),
    seed: 42,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    onBatch,
    batchEvents,
  });
}

/** The plain CLI path: yield to the event loop every batch. */
interface Measure {
  wallS: number;
  cpuS: number;
  summary: string;
}

function cpuS(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

async function plain(): Promise<Measure> {
  const t = performance.now();
  const c = process.cpuUsage();
  const r = await sim(() => new Promise((res) => setImmediate(res))).run();
  return { wallS: (performance.now() - t) / 1e3, cpuS: cpuS(c), summary: summaryJson({ ...r.summary, wall_s: 0 }) };
}

/** A 120×50 terminal that counts and discards what is written to it. */
function fakeTerminal(count: (bytes: number) => void): { out: NodeJS.WriteStream; stdin: NodeJS.ReadStream } {
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      count(chunk.length);
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(out, { isTTY: true, columns: 120, rows: 50 });
  return { out, stdin: new PassThrough() as unknown as NodeJS.ReadStream };
}

/** CPU milliseconds of one frame (snapshot + ink render) on a finished run's state: noise-free cost model. */
async function frameCostMs(frames: number): Promise<{ snapshotMs: number; frameMs: number }> {
  const s = sim(() => Promise.resolve());
  await s.run();
  const b = new SimSnapshotBuilder(s);
  const wall = { wallS: 5, state: 'running' as const, refreshMs: 500, pace: null, traceEndS: null, traceRequests: null };
  let c = process.cpuUsage();
  for (let i = 0; i < frames; i++) b.snapshot({ ...wall, wallS: 5 + i });
  const snapshotMs = (cpuS(c) * 1e3) / frames;
  const { out, stdin } = fakeTerminal(() => undefined);
  const size = { columns: 120, rows: 50 };
  const ink = render(createElement(SimDashboard, { s: b.snapshot(wall), color: true, size }), { stdout: out, stdin, patchConsole: false, maxFps: 10_000 });
  c = process.cpuUsage();
  for (let i = 0; i < frames; i++) {
    ink.rerender(createElement(SimDashboard, { s: b.snapshot({ ...wall, wallS: 5 + i }), color: true, size }));
    await new Promise((r) => setImmediate(r));
  }
  const frameMs = (cpuS(c) * 1e3) / frames;
  ink.unmount();
  return { snapshotMs, frameMs };
}

async function withDashboard(refreshMs: number): Promise<Measure & { bytes: number }> {
  let bytes = 0;
  const { out, stdin } = fakeTerminal((n) => (bytes += n));
  const t = performance.now();
  const c = process.cpuUsage();
  const dash = startSimDashboard({ stdout: out, stdin, color: true, pace: null, refreshMs });
  const s = sim((x) => dash.controller.onBatch(x), LIVE_BATCH_EVENTS);
  dash.controller.attach(s);
  const r = await s.run();
  await dash.finish();
  return { wallS: (performance.now() - t) / 1e3, cpuS: cpuS(c), summary: summaryJson({ ...r.summary, wall_s: 0 }), bytes };
}

const min = (xs: number[]): number => Math.min(...xs);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const R = DEFAULTS.dashboardRefreshMs;
// Warm-up (JIT, ink's first layout) so the first measured round is not penalised.
await plain();
await withDashboard(R.initial);
// Refresh periods to measure (--refresh 500,250): the default and the fastest `+` allows.
const periods = values.refresh ? values.refresh.split(',').map(Number) : [R.initial, R.min];
const label = (ms: number): string => `dashboard, refresh ${ms} ms`;
const runs: Record<string, Measure[]> = { 'no dashboard': [] };
for (const ms of periods) runs[label(ms)] = [];
let bytes = 0;
for (let i = 0; i < rounds; i++) {
  const a = await plain();
  runs['no dashboard'].push(a);
  for (const ms of periods) {
    const b = await withDashboard(ms);
    if (a.summary !== b.summary) throw new Error('the dashboard changed the simulation result');
    runs[label(ms)].push(b);
    if (ms === periods[0]) bytes = b.bytes;
  }
}
const base = runs['no dashboard'];
const baseCpu = min(base.map((x) => x.cpuS));
const baseWall = min(base.map((x) => x.wallS));
console.log(`dashboard overhead: ${requests} requests on l20:8, ${rounds} rounds, identical results in every run`);
for (const [name, xs] of Object.entries(runs)) {
  const cpu = min(xs.map((x) => x.cpuS));
  const wall = min(xs.map((x) => x.wallS));
  const over = ((cpu - baseCpu) / baseCpu) * 100;
  const overWall = ((wall - baseWall) / baseWall) * 100;
  const vs = xs === base ? '' : `  overhead CPU ${over >= 0 ? '+' : ''}${over.toFixed(1)}%, wall ${overWall >= 0 ? '+' : ''}${overWall.toFixed(1)}%${over > 10 ? '  EXCEEDS 10%' : ''}`;
  console.log(`${name.padEnd(26)} CPU min ${cpu.toFixed(3)} s (median ${median(xs.map((x) => x.cpuS)).toFixed(3)})  wall min ${wall.toFixed(3)} s${vs}`);
}
console.log(`terminal output of one ${periods[0]} ms run: ${(bytes / 1024).toFixed(0)} KiB`);
const f = await frameCostMs(200);
console.log(`one frame: snapshot ${f.snapshotMs.toFixed(2)} ms CPU, snapshot + ink render ${f.frameMs.toFixed(2)} ms CPU`);
for (const ms of periods) console.log(`  => at ${ms} ms refresh the dashboard takes ${((f.frameMs / ms) * 100).toFixed(1)}% of one core`);
