import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { CLI, call, chatBody, control, startServe, startUpstream, stop, until, type Proc, type RawResponse } from './helpers.js';
import { haveRedis, NO_REDIS, startRedis, type RedisProc } from './redis-server.js';

interface Readiness {
  ready: boolean;
  state?: { connected: boolean; mode: string; other_replicas: number; replica: string };
}

async function readiness(p: Proc): Promise<Readiness> {
  const r = await call(p.port, 'GET', '/readiness');
  assert.equal(r.status, 200, r.body.toString());
  return JSON.parse(r.body.toString()) as Readiness;
}

const worker = (r: RawResponse): string => String(r.headers['x-router-worker']);

test('serve --state redis://: replicas share in-flight load and session pins; killing Redis loses no request, replicas route on local state and re-sync when it returns', { timeout: 300_000 }, async (t) => {
  if (!haveRedis) {
    t.skip(NO_REDIS);
    return;
  }
  let redis: RedisProc | undefined = await startRedis();
  const port = redis.port;
  const url = `redis://127.0.0.1:${port}`;
  const ups = [await startUpstream(), await startUpstream()];
  const names = ['wa', 'wb'];
  const workers = ups.map((u, i) => `http://127.0.0.1:${u.port};name=${names[i]}`).join(',');
  const replicas: Proc[] = [];
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  r.on('error', () => undefined);
  try {
    const common = ['--workers', workers, '--health-interval', '0', '--log', 'off', '--worker-header', '--state', url, '--state-sync-interval', '0.02'];
    replicas.push(await startServe([...common, '--policy', 'least-request', '--state-replica-id', 'r1'], 60_000));
    replicas.push(await startServe([...common, '--policy', 'least-request', '--state-replica-id', 'r2'], 60_000));
    const [r1, r2] = replicas;
    assert.ok(await until(async () => (await readiness(r1)).state?.other_replicas === 1 && (await readiness(r2)).state?.other_replicas === 1, 10_000), 'the replicas see each other');
    assert.deepEqual((await readiness(r1)).state, { backend: 'redis', url, replica: 'r1', connected: true, mode: 'shared', other_replicas: 1 });

    // Load: a request held on replica 1's worker is seen by replica 2, which routes elsewhere.
    for (const u of ups) await control(u, { headerDelayMs: 1500 });
    for (let round = 0; round < 3; round++) {
      const held = call(r1.port, 'POST', '/v1/chat/completions', chatBody(`held ${round}`));
      assert.ok(await until(async () => Object.values(await r.hgetall('router:load:r1')).some((v) => v.startsWith('1 ')), 5000), 'replica 1 publishes its in-flight request');
      const busy = Object.entries(await r.hgetall('router:load:r1')).find(([, v]) => v.startsWith('1 '))?.[0] ?? '';
      const busyName = names[ups.findIndex((u) => `http://127.0.0.1:${u.port}` === busy)];
      const seen = new RegExp(`^router_state_remote_in_flight\\{worker="${busyName}"\\} 1$`, 'm');
      assert.ok(await until(async () => seen.test((await call(r2.port, 'GET', '/metrics')).body.toString()), 5000), 'replica 2 has read it');
      const other = call(r2.port, 'POST', '/v1/chat/completions', chatBody(`other ${round}`));
      const [a, b] = await Promise.all([held, other]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.notEqual(`http://127.0.0.1:${ups[names.indexOf(worker(b))].port}`, busy, `round ${round}: replica 2 avoided the worker replica 1 had loaded (${busy})`);
    }
    for (const u of ups) await control(u, { headerDelayMs: 0 });

    // Session pins: sessions first seen by replica 1 stay on their worker when they reach replica 2.
    const s1 = [...replicas];
    await stop(s1[0]);
    await stop(s1[1]);
    replicas.length = 0;
    replicas.push(await startServe([...common, '--policy', 'session-affinity', '--state-replica-id', 's1'], 60_000));
    replicas.push(await startServe([...common, '--policy', 'session-affinity', '--state-replica-id', 's2'], 60_000));
    const [p1, p2] = replicas;
    const pinned = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const res = await call(p1.port, 'POST', '/v1/chat/completions', chatBody(`s${i}`), { 'x-session-id': `session-${i}` });
      assert.equal(res.status, 200);
      pinned.set(`session-${i}`, worker(res));
    }
    assert.ok(await until(async () => (await r.hlen('router:pins')) === 6, 5000), 'pins written');
    assert.ok(await until(async () => (await readiness(p2)).state?.other_replicas === 1, 5000));
    for (const [session, w] of pinned) {
      const res = await call(p2.port, 'POST', '/v1/chat/completions', chatBody('again'), { 'x-session-id': session });
      assert.equal(worker(res), w, `${session} stays on ${w} through replica 2`);
    }

    // Kill Redis with requests in flight on both replicas: none is lost.
    for (const u of ups) await control(u, { headerDelayMs: 300 });
    const inFlight = Array.from({ length: 8 }, (_, i) => call(replicas[i % 2].port, 'POST', '/v1/chat/completions', chatBody(`during ${i}`)));
    await redis.stop();
    redis = undefined;
    for (const p of replicas) assert.ok(await until(async () => (await readiness(p)).state?.connected === false, 10_000), 'readiness reports the lost store');
    const rd = await readiness(replicas[0]);
    assert.equal(rd.ready, true, 'still ready: fail open');
    assert.equal(rd.state?.mode, 'local');
    const metrics = (await call(replicas[0].port, 'GET', '/metrics')).body.toString();
    assert.match(metrics, /^router_state_connected 0$/m);
    assert.match(metrics, /^router_state_sync_failures_total \d+$/m);
    const during = await Promise.all([...inFlight, ...Array.from({ length: 8 }, (_, i) => call(replicas[i % 2].port, 'POST', '/v1/chat/completions', chatBody(`outage ${i}`), { 'x-session-id': `session-${i % 6}` }))]);
    assert.deepEqual(during.map((x) => x.status), new Array<number>(16).fill(200), 'every request answered while Redis is down');
    for (const p of replicas) assert.match(p.stderr(), /state: Redis redis:\/\/127\.0\.0\.1:\d+ unreachable.*routing on local state until it returns/);

    // Redis returns (empty: no persistence): both replicas reconnect and write their state again.
    redis = await startRedis(port);
    for (const p of replicas) assert.ok(await until(async () => (await readiness(p)).state?.connected === true && (await readiness(p)).state?.other_replicas === 1, 15_000), 're-synced');
    assert.deepEqual((await r.smembers('router:replicas')).sort(), ['s1', 's2']);
    const held = call(replicas[0].port, 'POST', '/v1/chat/completions', chatBody('after'), { 'x-session-id': 'fresh' });
    assert.ok(await until(async () => Object.values(await r.hgetall('router:load:s1')).some((v) => v.startsWith('1 ')), 5000), 'load flows again after the re-sync');
    assert.ok(await until(async () => (await r.hexists('router:pins', 'fresh')) === 1, 5000), 'pins flow again');
    assert.equal((await held).status, 200);
    for (const p of replicas) assert.match(p.stderr(), /state: re-synced with redis:\/\/127\.0\.0\.1:\d+ as replica s[12]/);
    assert.match((await call(replicas[0].port, 'GET', '/metrics')).body.toString(), /^router_state_connected 1$/m);

    // A clean stop takes the replica's load out of Redis at once.
    await control(ups[0], { headerDelayMs: 0 });
    await control(ups[1], { headerDelayMs: 0 });
    replicas[1].child.kill('SIGTERM');
    await replicas[1].exited;
    assert.deepEqual(await r.smembers('router:replicas'), ['s1']);
    assert.equal(await r.exists('router:load:s2'), 0);
  } finally {
    r.disconnect();
    for (const p of replicas) await stop(p);
    for (const u of ups) await stop(u);
    await redis?.stop();
  }
});

test('serve without --state: /readiness has no state section; a bad --state URL is one line and exit 2', { timeout: 60_000 }, async () => {
  const up = await startUpstream();
  let serve: Proc | undefined;
  try {
    serve = await startServe(['--workers', `http://127.0.0.1:${up.port}`, '--health-interval', '0', '--log', 'off'], 60_000);
    const body = JSON.parse((await call(serve.port, 'GET', '/readiness')).body.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['draining', 'healthy_workers', 'ready']);
    assert.doesNotMatch((await call(serve.port, 'GET', '/metrics')).body.toString(), /router_state_/);
  } finally {
    await stop(serve);
    await stop(up);
  }
  const bad = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:1', '--state', 'http://localhost:6379'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim(), 'router: --state: "http://localhost:6379" must be redis:// or rediss://');
  const badId = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:1', '--state', 'redis://127.0.0.1:1', '--state-replica-id', 'a b'], { encoding: 'utf8' });
  assert.equal(badId.status, 2);
  assert.match(badId.stderr, /--state-replica-id a b: expected 1-128 letters/);
});
