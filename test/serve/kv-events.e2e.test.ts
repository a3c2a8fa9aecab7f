import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Publisher } from 'zeromq';
import { ServeApp } from '../../src/serve/server.js';
import { KvEventSubscriptions } from '../../src/serve/kv-events/subscriptions.js';
import { createPolicyEnv } from '../../src/routing/env.js';
import { createPolicy } from '../../src/routing/registry.js';
import { promptBlockHashes } from '../../src/workload/block-hash.js';
import { kvEventFrames } from '../../src/mock/kv-events-encode.js';
import { testMock, postJson } from '../mock/helpers.js';
import type { MockWorker } from '../../src/mock/server.js';
import { serveTestOptions } from './serve-options.js';
import { runCli } from '../helpers/cli.js';

async function until(cond: () => boolean, what: string, timeoutMs = 20_000, tick?: () => Promise<unknown>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    if (tick) await tick();
    await new Promise((r) => setTimeout(r, 25));
  }
}

const prompt = (base: number, n: number): number[] => Array.from({ length: n }, (_, i) => base + i);
/** The router's keys of a prompt's full 16-token blocks. */
const keys = (ids: number[]): number[] => promptBlockHashes({ kind: 'tokens', ids }, ids.length, 16);

interface Setup {
  mocks: MockWorker[];
  kv: KvEventSubscriptions;
  app: ServeApp;
  url: string;
}

async function setup(n: number, extraEndpoint?: string): Promise<Setup> {
  const mocks: MockWorker[] = [];
  // 60 blocks of 16 tokens per engine, so a few prompts evict each other.
  for (let i = 0; i < n; i++) mocks.push(await testMock({ spec: { gpu: 'l20', engine: { num_gpu_blocks: 60 } }, speedup: 50, kvEvents: { endpoint: 'tcp://127.0.0.1:0', topic: '' } }));
  const kv = new KvEventSubscriptions(() => undefined);
  // Events only (no speculation), so every routing decision below follows what the engines reported.
  const policy = createPolicy('precise-prefix', { speculative_ttl_s: 0 }, createPolicyEnv(kv.indexFactory()));
  const opts = serveTestOptions(mocks.map((m) => m.port), policy, { kvEvents: kv, workerHeader: true, scrapeIntervalMs: 0 });
  opts.workers.forEach((w, i) => (w.kvEvents = i === n - 1 && extraEndpoint ? extraEndpoint : mocks[i].kvEvents?.endpoint));
  const app = new ServeApp(opts);
  const addr = await app.listen();
  return { mocks, kv, app, url: `http://127.0.0.1:${addr.port}` };
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.app.shutdown();
  await Promise.all(s.mocks.map((m) => m.close()));
}

/** Sends `ids` to mock `i` directly (not through the router) until its engine's events reach the router's index. */
async function cacheOn(s: Setup, i: number, ids: number[]): Promise<void> {
  const id = s.app.router.workers[i].id;
  const k = keys(ids);
  await until(() => s.kv.store.matchLength(id, k, 0) === k.length, `worker ${i} reporting the prompt cached`, 20_000, async () => {
    // A PUB socket drops what it sends before the subscription reaches it: resend until one arrives.
    const r = await postJson(`${s.mocks[i].url}/v1/completions`, { prompt: ids, max_tokens: 1 });
    await r.text();
  });
}

async function routedTo(s: Setup, ids: number[]): Promise<string> {
  const r = await postJson(`${s.url}/v1/completions`, { prompt: ids, max_tokens: 2 });
  await r.text();
  assert.equal(r.status, 200);
  return r.headers.get('x-router-worker') ?? '?';
}

test('serve consumes live mock-worker KV event streams over ZMQ: the index follows stored/removed blocks and routing follows the index', async () => {
  let s: Setup | undefined;
  try {
    s = await setup(3);
    const st = s;
    await until(() => st.kv.status().every((x) => x.live), 'three live subscriptions');
    const p = prompt(5000, 16 * 12 + 5);
    await cacheOn(st, 2, p);
    for (let i = 0; i < 4; i++) assert.equal(await routedTo(st, p), 'w2', 'the worker whose engine holds the prefix');
    // The same prompt's blocks on w0 only after the engine stores them there: a new prefix goes where it is cached.
    const q = prompt(90_000, 16 * 12 + 5);
    await cacheOn(st, 0, q);
    for (let i = 0; i < 3; i++) assert.equal(await routedTo(st, q), 'w0');
    // Evict p from w2 (60 blocks of 16 tokens: five other prompts push it out) → BlockRemoved → out of the index.
    const w2 = st.app.router.workers[2].id;
    assert.equal(st.kv.store.matchLength(w2, keys(p), 0), 12);
    let other = 0;
    await until(() => st.kv.store.matchLength(w2, keys(p), 0) < 12, 'p evicted from w2', 20_000, async () => {
      const r = await postJson(`${st.mocks[2].url}/v1/completions`, { prompt: prompt(200_000 + 1000 * other++, 16 * 12 + 5), max_tokens: 1 });
      await r.text();
    });
    // Now only w1's engine holds p: routing follows.
    await cacheOn(st, 1, p);
    for (let i = 0; i < 3; i++) assert.equal(await routedTo(st, p), 'w1');
    const metrics = await (await fetch(`${st.url}/metrics`)).text();
    assert.match(metrics, /router_kv_events_subscribed\{worker="w2"\} 1/);
    assert.match(metrics, /router_kv_events_total\{worker="w2",type="stored"\} \d+/);
    assert.match(metrics, /router_kv_events_indexed_blocks\{worker="w2"\} \d+/);
    const ready = (await (await fetch(`${st.url}/readiness`)).json()) as { kv_events: { worker: string; live: boolean }[] };
    assert.deepEqual(ready.kv_events.map((x) => [x.worker, x.live]), [['w0', true], ['w1', true], ['w2', true]]);
  } finally {
    await teardown(s);
  }
});

test('a lost subscription drops that worker\'s precise index; routing falls back to the approximate index, never an error', async () => {
  let s: Setup | undefined;
  try {
    s = await setup(2);
    const st = s;
    await until(() => st.kv.status().every((x) => x.live), 'two live subscriptions');
    const p = prompt(7000, 16 * 8 + 1);
    await cacheOn(st, 1, p);
    assert.equal(await routedTo(st, p), 'w1');
    const w1 = st.app.router.workers[1].id;
    // The engine's publisher goes away (the worker itself keeps serving).
    await st.mocks[1].kvEvents?.close();
    await until(() => !st.kv.status()[1].live, 'the subscription to be noticed lost');
    assert.equal(st.kv.store.isLive(w1), false);
    assert.equal(st.kv.store.blockCount(w1), 0);
    // The approximate index remembers that p was routed to w1: it still goes there, and requests succeed.
    for (let i = 0; i < 3; i++) assert.equal(await routedTo(st, p), 'w1');
    assert.match(await (await fetch(`${st.url}/metrics`)).text(), /router_kv_events_subscribed\{worker="w1"\} 0/);
  } finally {
    await teardown(s);
  }
});

test('garbage on a KV event stream is counted and skipped; valid messages around it still apply; gaps are counted', async () => {
  const pub = new Publisher({ linger: 0 });
  await pub.bind('tcp://127.0.0.1:*');
  let s: Setup | undefined;
  try {
    s = await setup(1, pub.lastEndpoint ?? '');
    const st = s;
    await until(() => st.kv.status()[0].live, 'the subscription');
    const ids = prompt(1, 32);
    const good = (seq: number) => kvEventFrames('', seq, { ts: 1, dataParallelRank: null, events: [{ type: 'BlockStored', blockHashes: [seq * 10, seq * 10 + 1], parentBlockHash: null, tokenIds: ids, blockSize: 16, loraId: null, medium: 'GPU' }] });
    const id = st.app.router.workers[0].id;
    // Repeated until one gets through (the subscription may reach the publisher after the first sends).
    let seq = 0;
    await until(() => st.kv.store.blockCount(id) > 0, 'a valid message applied', 20_000, () => pub.send(good(seq++)));
    const applied = st.kv.status()[0].messages;
    await pub.send([Buffer.from(''), Buffer.alloc(8), Buffer.from('\xc1 not msgpack at all')]);
    await pub.send([Buffer.from('only two frames'), Buffer.alloc(3)]);
    await pub.send(good(seq + 5));
    await until(() => st.kv.status()[0].messages === applied + 1, 'the valid message after the garbage');
    const status = st.kv.status()[0];
    assert.equal(status.malformed, 2);
    assert.equal(status.missed, 5);
    const m = await (await fetch(`${st.url}/metrics`)).text();
    assert.match(m, /router_kv_events_malformed_total\{worker="w0"\} 2/);
    assert.match(m, /router_kv_events_missed_total\{worker="w0"\} 5/);
    // serve still answers.
    assert.equal((await postJson(`${st.url}/v1/completions`, { prompt: ids, max_tokens: 1 })).status, 200);
  } finally {
    await teardown(s);
    pub.close();
  }
});

test('bad kv_events endpoints are one-line user errors (exit 2)', () => {
  const a = runCli(['serve', '--workers', 'http://127.0.0.1:9;kv_events=http://x:1']);
  assert.equal(a.status, 2, a.stderr);
  assert.match(a.stderr, /label kv_events: expected tcp:\/\/HOST:PORT/);
  assert.doesNotMatch(a.stderr, /\n\s+at /);
  const b = runCli(['mock-worker', '--gpu', 'l20', '--kv-events', 'tcp://127.0.0.1']);
  assert.equal(b.status, 2, b.stderr);
  assert.match(b.stderr, /--kv-events: expected tcp:\/\/HOST:PORT/);
});
