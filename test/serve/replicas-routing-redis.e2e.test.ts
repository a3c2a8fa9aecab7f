import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI, call, chatBody, startServe, startUpstream, stop, until, type Proc } from './helpers.js';
import { haveRedis, NO_REDIS, startRedis, type RedisProc } from './redis-server.js';

interface Readiness {
  state?: { other_replicas: number; routing_decisions?: { sent: number; replayed: number; malformed: number } };
}

async function readiness(p: Proc): Promise<Readiness> {
  return JSON.parse((await call(p.port, 'GET', '/readiness')).body.toString()) as Readiness;
}

/** A long prompt of its own per family, so each is many blocks of the approximate index. */
const prompt = (family: number, question: string): string => `${Array.from({ length: 300 }, (_, i) => `family${family} word${i}`).join(' ')} ${question}`;

test('serve --state: a prefix one replica placed is routed to the same worker by another replica (shared routing decisions)', { timeout: 180_000 }, async (t) => {
  if (!haveRedis) {
    t.skip(NO_REDIS);
    return;
  }
  const redis: RedisProc = await startRedis();
  const ups = await Promise.all([startUpstream(), startUpstream(), startUpstream(), startUpstream()]);
  const workers = ups.map((u, i) => `http://127.0.0.1:${u.port};name=w${i}`).join(',');
  const replicas: Proc[] = [];
  try {
    const common = ['--workers', workers, '--health-interval', '0', '--log', 'off', '--worker-header', '--admin-key', 'k', '--state', `redis://127.0.0.1:${redis.port}`, '--policy', 'prefix-cache'];
    replicas.push(await startServe([...common, '--state-replica-id', 'a'], 60_000));
    replicas.push(await startServe([...common, '--state-replica-id', 'b'], 60_000));
    const [a, b] = replicas;
    assert.ok(await until(async () => (await readiness(a)).state?.other_replicas === 1 && (await readiness(b)).state?.other_replicas === 1, 15_000), 'the replicas see each other');
    assert.deepEqual((await readiness(b)).state?.routing_decisions, { sent: 0, replayed: 0, malformed: 0 });
    const families = 8;
    // Finished requests leave a replica's shared in-flight overlay only at the next state sync;
    // until then prefix-cache's mean + σ load cap may skip a worker that has no load left.
    const idle = async (p: Proc): Promise<boolean> =>
      until(async () => {
        const ws = (JSON.parse((await call(p.port, 'GET', '/workers', undefined, { authorization: 'Bearer k' })).body.toString()) as { workers: { in_flight: number }[] }).workers;
        return ws.every((w) => w.in_flight === 0);
      }, 10_000);
    const placed: string[] = [];
    for (let f = 0; f < families; f++) {
      const r = await call(a.port, 'POST', '/v1/chat/completions', chatBody(prompt(f, 'first')));
      assert.equal(r.status, 200);
      placed.push(String(r.headers['x-router-worker']));
    }
    assert.ok(await until(async () => (await readiness(b)).state?.routing_decisions?.replayed === families, 10_000), 'replica b replayed every decision of a');
    // With no load anywhere, b's prefix-cache picks by its index alone: where a placed each family.
    for (let f = 0; f < families; f++) {
      assert.ok(await idle(b), 'replica b sees no load left');
      const r = await call(b.port, 'POST', '/v1/chat/completions', chatBody(prompt(f, 'second')));
      assert.equal(String(r.headers['x-router-worker']), placed[f], `family ${f} follows a's placement`);
    }
    assert.ok(await until(async () => (await readiness(a)).state?.routing_decisions?.replayed === families, 10_000), 'and a replayed b\'s');
    assert.equal((await readiness(a)).state?.routing_decisions?.sent, families);
    assert.match((await call(b.port, 'GET', '/metrics')).body.toString(), /^router_state_routing_decisions_total\{direction="replayed"\} 8$/m);
  } finally {
    for (const p of replicas) await stop(p);
    for (const u of ups) await stop(u);
    await redis.stop();
  }
});

test('serve --state --state-share-routing off: nothing is published (load and pins are still shared)', { timeout: 120_000 }, async (t) => {
  if (!haveRedis) {
    t.skip(NO_REDIS);
    return;
  }
  const redis: RedisProc = await startRedis();
  const up = await startUpstream();
  let s: Proc | undefined;
  try {
    s = await startServe(['--workers', `http://127.0.0.1:${up.port}`, '--health-interval', '0', '--log', 'off', '--state', `redis://127.0.0.1:${redis.port}`, '--policy', 'prefix-cache', '--state-share-routing', 'off'], 60_000);
    assert.equal((await call(s.port, 'POST', '/v1/chat/completions', chatBody(prompt(1, 'q')))).status, 200);
    const rd = await readiness(s);
    assert.ok(rd.state);
    assert.equal(rd.state.routing_decisions, undefined);
  } finally {
    await stop(s);
    await stop(up);
    await redis.stop();
  }
});

test('serve --state-share-routing: anything but on/off is one clear line, exit 2', () => {
  const r = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:9', '--state', 'redis://127.0.0.1:9', '--state-share-routing', 'maybe'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--state-share-routing maybe: expected on or off/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
