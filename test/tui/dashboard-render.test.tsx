import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { SimDashboard, chartable } from '../../src/tui/sim-dashboard.js';
import { ServeDashboard, type ServeDashboardSnapshot } from '../../src/tui/serve-dashboard.js';
import { ServeDashboardApp } from '../../src/tui/serve-app.js';
import { serveDashboardFeed } from '../../src/tui/serve-live.js';
import type { LiveSnapshot } from '../../src/serve/snapshot.js';
import type { SimDashboardSnapshot } from '../../src/tui/sim-snapshot.js';

const p = (p50: number, p99: number) => ({ p50, p99 });

function simSnap(over: Partial<SimDashboardSnapshot> = {}): SimDashboardSnapshot {
  return {
    policy: 'least-request',
    simTimeS: 50,
    traceEndS: 100,
    traceRequests: 400,
    arrived: 200,
    completed: 150,
    rejected: 2,
    inFlight: 48,
    queued: 0,
    wallS: 5,
    speed: 10,
    etaS: 5,
    workers: [
      { name: 'l20-0', gpu: 'l20', running: 12, waiting: 3, kvUsage: 0.5, prefixHitRate: 0.25, served: 80 },
      { name: 'h100-0', gpu: 'h100-sxm', running: 7, waiting: 0, kvUsage: 0.125, prefixHitRate: NaN, served: 70 },
    ],
    rolling: { count: 150, ttftMs: p(80, 500), tpotMs: p(38.5, 49), e2eMs: p(7000, 40000) },
    sloAttainment: 0.975,
    sloClasses: [],
    series: [
      { t0S: 0, t1S: 10, completedPerS: 5, outputTokensPerS: 500, ttftMs: p(70, 300) },
      { t0S: 10, t1S: 20, completedPerS: 8, outputTokensPerS: 800, ttftMs: p(90, 600) },
      { t0S: 20, t1S: 30, completedPerS: 6, outputTokensPerS: 650, ttftMs: p(80, 450) },
    ],
    state: 'running',
    refreshMs: 250,
    pace: null,
    ...over,
  };
}

const lines = (frame: string | undefined): string[] => (frame ?? '').split('\n').map((l) => l.trimEnd());

test('simulate dashboard: header, progress, worker rows, rolling latency and SLO from a fixed snapshot', () => {
  const { lastFrame, unmount } = render(<SimDashboard s={simSnap()} color={false} size={{ columns: 120, rows: 60 }} />);
  const f = lines(lastFrame());
  unmount();
  assert.equal(f[0], 'router simulate · policy least-request · running · refresh 250 ms');
  assert.equal(f[2], 'progress ████████████░░░░░░░░░░░░ 50.0% · simulated 50.0 s (last arrival at 100.0 s)');
  assert.equal(f[3], '         requests 200/400 arrived · 150 done · 2 rejected · 48 in flight');
  assert.equal(f[4], '         wall 5.0s · speed 10.0× real time · ETA 5.0s');
  assert.deepEqual(f.slice(6, 9), [
    'worker  gpu       running  waiting          KV usage         hit rate  served',
    'l20-0   l20            12        3  ████████░░░░░░░░  50.0%     25.0%      80',
    'h100-0  h100-sxm        7        0  ██░░░░░░░░░░░░░░  12.5%         -      70',
  ]);
  assert.deepEqual(f.slice(10, 15), [
    'latency ms (last 150)     p50      p99',
    'TTFT                     80.0    500.0',
    'TPOT                     38.5     49.0',
    'E2E                    7000.0  40000.0',
    'SLO attainment 97.5%',
  ]);
  assert.match(f[16], /^TTFT p99 \(ms\) · 0–30 s simulated$/);
  // The chart's top label is the largest p99 of the series.
  assert.match(f[17], /^\s+600 ┤/);
  assert.ok(f.some((l) => l === 'throughput (completed req/s)'));
  assert.equal(f[f.length - 1], 'keys: q quit (reports are still written) · p pause/resume · + faster refresh · - slower refresh');
  assert.ok(!(lastFrame() ?? '').includes('\u001b['), 'no colour codes with color=false');
});

test('simulate dashboard: one row per SLO class when the trace carries several, none for one', () => {
  const classes = [
    { name: 'tpot_ms=50', requests: 100, met: 99, rejected: 1 },
    { name: 'ttft_ms=200', requests: 40, met: 30, rejected: 4 },
  ];
  const { lastFrame, unmount } = render(<SimDashboard s={simSnap({ sloClasses: classes })} color={false} size={{ columns: 120, rows: 60 }} />);
  const f = lines(lastFrame());
  unmount();
  assert.deepEqual(f.slice(14, 18), ['SLO attainment 97.5%', 'SLO class    requests    met  rejected', 'tpot_ms=50        100  99.0%         1', 'ttft_ms=200        40  75.0%         4']);
  const one = render(<SimDashboard s={simSnap({ sloClasses: classes.slice(0, 1) })} color={false} size={{ columns: 120, rows: 60 }} />);
  assert.ok(!(one.lastFrame() ?? '').includes('SLO class'));
  one.unmount();
});

test('simulate dashboard: charts drop out on a short terminal; unknown trace length and pause are shown', () => {
  const { lastFrame, unmount } = render(
    <SimDashboard s={simSnap({ traceEndS: null, traceRequests: null, etaS: null, state: 'paused', pace: 2, queued: 7 })} color={false} size={{ columns: 80, rows: 24 }} />,
  );
  const f = lines(lastFrame());
  unmount();
  assert.equal(f[0], 'router simulate · policy least-request · PAUSED · refresh 250 ms');
  assert.equal(f[2], 'progress ░░░░░░░░░░░░░░░░░░░░░░░░ - · simulated 50.0 s (scanning trace…)');
  assert.equal(f[3], '         requests 200 arrived · 150 done · 2 rejected · 48 in flight · 7 queued in the router');
  assert.equal(f[4], '         wall 5.0s · speed 10.0× real time (pace 2×) · ETA -');
  assert.ok(!f.some((l) => l.startsWith('TTFT p99')), 'no chart on 24 rows');
  assert.ok(f.length <= 24);
});

test('simulate dashboard: before any request completes the chart says so', () => {
  const { lastFrame, unmount } = render(<SimDashboard s={simSnap({ series: [] })} color={false} size={{ columns: 120, rows: 60 }} />);
  const f = lines(lastFrame());
  unmount();
  assert.ok(f.includes('TTFT p99 (ms): no completed requests yet'));
});

test('serve dashboard: per-worker in-flight, health, breaker, scraped metrics and rolling latencies', () => {
  const s: ServeDashboardSnapshot = {
    listen: 'http://127.0.0.1:8080',
    policy: 'power-of-two',
    uptimeS: 125,
    inFlight: 9,
    queued: 2,
    requests: 1213,
    errors: 3,
    retries: 4,
    rejected: 1,
    requestsPerS: 12.5,
    workers: [
      { name: 'gpu-a', url: 'http://10.0.0.1:8000', healthy: true, breaker: 'closed', inFlight: 5, scraped: { running: 5, waiting: 1, kvUsage: 0.25, prefixHitRate: 0.5, ageS: 0.4 }, served: 700, errors: 0 },
      { name: 'gpu-b', url: 'http://10.0.0.2:8000', healthy: false, breaker: 'open', inFlight: 0, scraped: null, served: 500, errors: 3 },
      { name: 'gpu-c', url: 'http://10.0.0.3:8000', healthy: true, breaker: 'half-open', inFlight: 4, scraped: { running: 4, waiting: 0, kvUsage: 1, ageS: 2 } },
    ],
    rolling: { count: 1000, ttftMs: p(120, 900), tpotMs: p(30, 45), e2eMs: p(4000, 15000) },
    status: 'draining',
  };
  const { lastFrame, unmount } = render(<ServeDashboard s={s} color={false} refreshMs={500} />);
  const f = lines(lastFrame());
  unmount();
  assert.deepEqual(f, [
    'router serve · http://127.0.0.1:8080 · policy power-of-two · up 2m05s · draining · refresh 500 ms',
    'requests: 1213 · 12.5 req/s · 9 in flight · 2 queued · 3 errors · 4 retries · 1 rejected',
    '',
    'worker  health  breaker    in flight  run  wait  KV usage          hit rate    age  served  errors',
    'gpu-a   up      closed             5    5     1  ██░░░░░░   25.0%     50.0%   0.4s     700       0',
    'gpu-b   DOWN    open               0    -     -  ░░░░░░░░       -         -  never     500       3',
    'gpu-c   up      half-open          4    4     0  ████████  100.0%         -   2.0s       -       -',
    '',
    'latency ms (last 1000)     p50      p99',
    'TTFT                     120.0    900.0',
    'TPOT                      30.0     45.0',
    'E2E                     4000.0  15000.0',
    'keys: q quit · p pause display · + faster refresh · - slower refresh',
  ]);
});

test('chart values: gaps repeat the previous value, a single point is doubled', () => {
  assert.deepEqual(chartable([NaN, 3, NaN, NaN, 5]), [3, 3, 3, 3, 5]);
  assert.deepEqual(chartable([7]), [7, 7]);
  assert.deepEqual(chartable([NaN, NaN]), [0, 0]);
});

test('serve dashboard app: refreshes from the snapshot function on a timer; q, p, + and - keys', async () => {
  let n = 0;
  const snapshot = (): ServeDashboardSnapshot => ({
    listen: 'http://127.0.0.1:9000',
    policy: 'least-request',
    uptimeS: n++,
    inFlight: 0,
    queued: 0,
    requests: 0,
    errors: 0,
    retries: 0,
    rejected: 0,
    requestsPerS: 0,
    workers: [],
    rolling: { count: 0, ttftMs: p(NaN, NaN), tpotMs: p(NaN, NaN), e2eMs: p(NaN, NaN) },
  });
  let quits = 0;
  const { lastFrame, stdin, unmount } = render(<ServeDashboardApp o={{ snapshot, color: false, refreshMs: 250, keys: true, onQuit: () => quits++ }} />);
  const header = () => lines(lastFrame())[0];
  // Polls instead of fixed sleeps: the machine may be busy.
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 250 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ok(), `timed out waiting for ${what}; header: ${header()}`);
  };
  try {
    await until('three snapshots on the timer', () => n >= 3);
    assert.match(header(), /· refresh 250\b/);
    stdin.write('-');
    await until('refresh 500 ms', () => /· refresh 500\b/.test(header()));
    stdin.write('+');
    stdin.write('+');
    await until('refresh 250 ms (the floor)', () => /· refresh 250\b/.test(header()));
    stdin.write('p');
    await until('the pause', () => /· display PAUSED · refresh 250\b/.test(header()));
    await new Promise((r) => setTimeout(r, 100));
    const frozen = n;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(n, frozen, 'no snapshots while paused');
    stdin.write('q');
    await until('onQuit', () => quits === 1);
  } finally {
    unmount();
  }
});

test('serveDashboardFeed: the LiveSnapshot of serve becomes frames with scrape ages, request rate and draining status', () => {
  let atS = 100;
  let requests = 0;
  const live = (): LiveSnapshot => ({
    atS,
    policy: 'least-request',
    draining: atS >= 106,
    queueLength: 1,
    inFlight: 3,
    totals: { requests, errors: 1, retries: 2, rejected: 0 },
    workers: [
      { index: 0, name: 'a', url: 'http://127.0.0.1:1', gpu: 'l20', healthy: true, healthCheckOk: true, breaker: 'closed', inFlight: 3, inPrefill: 1, scraped: { running: 2, waiting: 1, kvUsage: 0.5, atS: atS - 0.5 }, scrapeError: null, served: 7, errors: 1 },
      { index: 1, name: 'b', url: 'http://127.0.0.1:2', gpu: 'l20', healthy: false, healthCheckOk: false, breaker: 'open', inFlight: 0, inPrefill: 0, scraped: null, scrapeError: 'ECONNREFUSED', served: 0, errors: 3 },
    ],
    latencyMs: { ttft: { mean: 60, p50: 50, p90: 80, p99: 90, count: 10 }, tpot: null, e2e: { mean: 600, p50: 500, p90: 800, p99: 900, count: 10 } },
  });
  const feed = serveDashboardFeed({ snapshot: live }, 'http://127.0.0.1:8080');
  const f0 = feed();
  assert.equal(f0.uptimeS, 0);
  assert.equal(f0.requestsPerS, 0);
  assert.equal(f0.status, undefined);
  for (let k = 1; k <= 6; k++) {
    atS = 100 + k;
    requests = 10 * k;
  }
  // One sample at t=100 (0 requests) and one at t=106 (60): 10 req/s.
  const f1 = feed();
  assert.equal(f1.uptimeS, 6);
  assert.equal(f1.requestsPerS, 10);
  assert.equal(f1.status, 'draining');
  assert.deepEqual(f1.workers[0].scraped, { running: 2, waiting: 1, kvUsage: 0.5, prefixHitRate: undefined, ageS: 0.5 });
  assert.equal(f1.workers[1].scraped, null);
  assert.equal(f1.workers[1].breaker, 'open');
  assert.deepEqual(f1.workers.map((w) => [w.served, w.errors]), [[7, 1], [0, 3]]);
  assert.deepEqual(f1.rolling, { count: 10, ttftMs: { p50: 50, p99: 90 }, tpotMs: { p50: NaN, p99: NaN }, e2eMs: { p50: 500, p99: 900 } });
  assert.equal(f1.queued, 1);
  assert.equal(f1.retries, 2);
});

test('the final frame of a finished run shows a full progress bar, not "scanning trace…"', () => {
  // The background scan had not reported when the run ended.
  const done = render(<SimDashboard s={simSnap({ state: 'done', traceEndS: null, traceRequests: null, arrived: 300, completed: 300, inFlight: 0, etaS: null })} color={false} size={{ columns: 120, rows: 60 }} />);
  const f = lines(done.lastFrame());
  done.unmount();
  assert.equal(f[2], 'progress ████████████████████████ 100.0% · simulated 50.0 s');
  assert.equal(f[3], '         requests 300/300 arrived · 300 done · 2 rejected · 0 in flight');
  const stopped = render(<SimDashboard s={simSnap({ state: 'stopped', traceEndS: null, traceRequests: null })} color={false} size={{ columns: 120, rows: 60 }} />);
  const g = lines(stopped.lastFrame()).join('\n');
  stopped.unmount();
  assert.doesNotMatch(g, /scanning trace/);
  assert.match(g, /^router simulate · policy least-request · stopped/m);
});
