import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { CLI, call, chatBody, startServe, startUpstream, stop, until } from './helpers.js';
import { parseModelGpuProfile } from '../../src/routing/slo/profile.js';
import { freePort, haveRedis, NO_REDIS, startRedis } from './redis-server.js';

const grid = ['--outputs', '16,128', '--inputs', '128,1024', '--rates', '1,4,16', '--samples', '40'];

test('export-aibrix --redis writes AIBrix keys; serve --profiles-redis loads them, reports a malformed one by key and field, and reloads on change', { timeout: 120_000 }, async (t) => {
  if (!haveRedis) {
    t.skip(NO_REDIS);
    return;
  }
  const redis = await startRedis();
  const url = `redis://127.0.0.1:${redis.port}`;
  const r = new Redis(url);
  const up = await startUpstream();
  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const exp = spawnSync(process.execPath, [CLI, 'profile', 'export-aibrix', '--fleet', 'l20', '--slo', 'e2e=5', '--redis', url, ...grid], { encoding: 'utf8' });
    assert.equal(exp.status, 0, exp.stderr);
    const key = 'aibrix:profile_llama-3.1-8b_llama-3.1-8b@l20';
    assert.match(exp.stderr, new RegExp(`wrote Redis key ${key}`));
    const stored = parseModelGpuProfile(JSON.parse((await r.get(key)) as string), key);
    assert.equal(stored.gpu, 'llama-3.1-8b@l20');
    assert.deepEqual(stored.slos, { percentile: 99, e2e: 5 });
    // A malformed profile beside it: reported with its key and field, ignored, never a crash.
    await r.set('aibrix:profile_m_broken', '{"gpu":"broken","tputs":[[1]],"indexes":[[4],[128,256]]}');

    serve = await startServe(['--workers', `http://127.0.0.1:${up.port};profile=llama-3.1-8b@l20;name=w0`, '--policy', 'slo', '--slo', 'e2e_ms=5000', '--slo-profile', '/dev/null/none', '--health-interval', '0', '--log', 'off', '--profiles-redis', url]).catch(() => undefined);
    assert.equal(serve, undefined, 'a missing --slo-profile is still a user error');
    serve = await startServe(['--workers', `http://127.0.0.1:${up.port};gpu=a10;name=w0`, '--policy', 'slo', '--slo', 'e2e_ms=5000', '--health-interval', '0', '--log', 'off', '--profiles-redis', url]);
    const err = (): string => serve!.stderr();
    assert.match(err(), /ignoring Redis key aibrix:profile_m_broken: tputs\[0\]: expected 2 cells/);
    assert.match(err(), /SLO profiles from Redis: llama-3\.1-8b@l20/);
    assert.match(err(), /watching redis:\/\/127\.0\.0\.1:\d+ for aibrix:profile_\* keys \(notifications\+polling\)/);
    // The worker is labelled gpu=a10: no Redis table names it yet, so slo derives one from its profile.
    assert.match(err(), /deriving SLO tables for llama-3\.1-8b@a10/);
    assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody('before'))).status, 200);
    // AIBrix deploys a profile for that deployment: serve picks it up without a restart.
    await r.set('aibrix:profile_llama-3.1-8b_a10', JSON.stringify({ ...stored, gpu: 'a10', created: 2 }));
    const lastLoad = (): string => [...err().matchAll(/SLO profiles from Redis: (.*)/g)].pop()?.[1] ?? '';
    assert.ok(await until(() => lastLoad().split(', ').sort().join(',') === 'a10,llama-3.1-8b@l20', 10_000), err());
    const res = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('after'));
    assert.equal(res.status, 200);
    assert.match((await call(serve.port, 'GET', '/metrics')).body.toString(), /router_policy_decisions_total\{policy="slo",branch="slo"\} 2/);
    // Deleting it is a change too.
    await r.del('aibrix:profile_llama-3.1-8b_a10');
    assert.ok(await until(() => lastLoad() === 'llama-3.1-8b@l20', 10_000), err());
    assert.equal(serve.child.exitCode, null, 'serve is still running');
  } finally {
    r.disconnect();
    await Promise.all([stop(serve), stop(up)]);
    await redis.stop();
  }
});

test('serve --profiles-redis: a bad URL or an unreachable server is one line, exit 2', { timeout: 60_000 }, async () => {
  const bad = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:9', '--policy', 'slo', '--profiles-redis', 'http://x'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--profiles-redis: "http:\/\/x" must be redis:\/\/ or rediss:\/\//);
  const port = await freePort();
  const down = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:9;gpu=a10', '--policy', 'slo', '--profiles-redis', `redis://127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(down.status, 2, down.stderr);
  assert.match(down.stderr, /--profiles-redis redis:\/\/127\.0\.0\.1:\d+: cannot connect/);
  assert.doesNotMatch(down.stderr, /\n\s+at /);
});
