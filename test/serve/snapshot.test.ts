import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServeApp } from '../../src/serve/server.js';
import { serveTestOptions as options } from './serve-options.js';
import { createPolicy } from '../../src/routing/registry.js';
import type { Policy } from '../../src/routing/types.js';
import { Upstream } from './fixtures/upstream.js';
import { call, chatBody, until } from './helpers.js';


test('in-process ServeApp: live snapshot for the dashboard, SLO verdict in the request log', async () => {
  const ups = [new Upstream(), new Upstream()];
  const ports = await Promise.all(ups.map((u) => u.listen()));
  const lines: string[] = [];
  const o = options(ports, createPolicy('round-robin'), { slo: { ttftMs: 60_000, e2eMs: 0.001 }, logWrite: (s) => lines.push(...s.trim().split('\n')) });
  const app = new ServeApp(o);
  const addr = await app.listen();
  try {
    for (let i = 0; i < 6; i++) assert.equal((await call(addr.port, 'POST', '/v1/chat/completions', chatBody(`snap ${i}`, { stream: i % 2 === 1 }))).status, 200);
    await new Promise((r) => setTimeout(r, 150));
    const s = app.snapshot();
    assert.equal(s.policy, 'round-robin');
    assert.equal(s.totals.requests, 6);
    assert.equal(s.totals.errors, 0);
    assert.equal(s.inFlight, 0);
    assert.equal(s.queueLength, 0);
    assert.deepEqual(s.workers.map((w) => [w.name, w.healthy, w.breaker, w.inFlight]), [['w0', true, 'closed', 0], ['w1', true, 'closed', 0]]);
    assert.ok(s.workers.every((w) => w.scraped !== null && w.scraped.kvUsage === 0), 'scraped engine metrics reach the snapshot');
    // Only the three streamed requests have a first token apart from their last.
    assert.equal(s.latencyMs.ttft?.count, 3);
    assert.equal(s.latencyMs.e2e?.count, 6);
    assert.equal(s.latencyMs.tpot?.count, 3);
    const logged = lines.map((l) => JSON.parse(l) as { slo_met?: boolean; output_tokens?: number });
    assert.equal(logged.length, 6);
    // e2e_ms=0.001 cannot be met: every request is reported as missing its SLO.
    assert.ok(logged.every((l) => l.slo_met === false && l.output_tokens === 6));
  } finally {
    await app.shutdown();
    await Promise.all(ups.map((u) => u.close()));
  }
});

/** A pull-mode policy: one request per worker at a time; the rest wait in the Router's queue. */
function onePerWorker(maxLength: number, timeoutS: number): Policy {
  return {
    name: 'one-per-worker',
    mode: 'pull',
    queueLimits: { maxLength, timeoutS },
    pick: (_req, candidates) => {
      const free = candidates.find((w) => w.inFlight === 0);
      return free ? { worker: free.index } : null;
    },
  };
}

test('pull mode: dispatch happens later than submit; a full queue and a queue timeout answer 429 with Retry-After', async () => {
  const up = new Upstream();
  const port = await up.listen();
  // The first request holds the only slot for 2 s, far longer than any queue timeout below, so
  // the outcome does not depend on how late timers fire on a loaded machine.
  up.behaviour = { ...up.behaviour, headerDelayMs: 2000 };
  try {
    for (const [timeoutS, expect] of [
      [30, [200, 200, 200, 429, 429]],
      [0.5, [200, 429, 429, 429, 429]],
    ] as const) {
      const app = new ServeApp(options([port], onePerWorker(2, timeoutS)));
      const addr = await app.listen();
      try {
        const pending: Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>[] = [];
        for (let i = 0; i < 5; i++) {
          pending.push(call(addr.port, 'POST', '/v1/chat/completions', chatBody(`pull ${i}`)));
          await new Promise((r) => setTimeout(r, 20));
        }
        const rs = await Promise.all(pending);
        assert.deepEqual(rs.map((r) => r.status), [...expect], `timeout ${timeoutS}`);
        for (const r of rs.filter((x) => x.status === 429)) {
          assert.equal(r.headers['retry-after'], '1');
          assert.match((JSON.parse(r.body.toString()) as { error: { message: string } }).error.message, /router queue (full|timeout)/);
        }
        assert.equal(app.queueLength(), 0);
        assert.equal(app.router.inFlightTotal, 0);
      } finally {
        await app.shutdown();
      }
    }
  } finally {
    await up.close();
  }
});

test('18.4: 10,000 admin add/remove cycles leave nothing behind: registry, slots, pools, metric labels stay constant', async () => {
  const up = new Upstream();
  const port = await up.listen();
  const app = new ServeApp(options([port], createPolicy('least-request'), { adminKey: 'k' }));
  const addr = await app.listen();
  try {
    const auth = { authorization: 'Bearer k' };
    const baseline = app.retainedState();
    // Through the admin API a few times (the path operators use), then in-process for the bulk.
    for (let i = 0; i < 20; i++) {
      assert.equal((await call(addr.port, 'POST', '/workers', JSON.stringify({ url: `http://127.0.0.1:${port}/v${i}`, name: `tmp${i}` }), auth)).status, 201);
      assert.equal((await call(addr.port, 'DELETE', `/workers/tmp${i}`, undefined, auth)).status, 200);
    }
    for (let i = 0; i < 10_000; i++) app.removeWorker(app.addWorker({ url: `http://127.0.0.1:${port}/c${i}`, name: `c${i}` }));
    assert.ok(await until(() => app.retainedState().byId === baseline.byId, 5000));
    const after = app.retainedState();
    assert.deepEqual({ ...after, metricChildren: 0 }, { ...baseline, metricChildren: 0 });
    // One cached label child per route/status seen and per live worker: none for the removed ones.
    assert.ok(after.metricChildren <= baseline.metricChildren + 3, `metric children ${baseline.metricChildren} → ${after.metricChildren}`);
    assert.doesNotMatch((await call(addr.port, 'GET', '/metrics')).body.toString(), /worker="(tmp|c)\d+"/);
    assert.equal(app.router.workers.length, 1);
    assert.equal((await call(addr.port, 'POST', '/v1/chat/completions', chatBody('after churn'))).status, 200);
  } finally {
    await app.shutdown();
    await up.close();
  }
});
