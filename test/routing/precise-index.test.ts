import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/util/clock.js';
import { createPolicyEnv } from '../../src/routing/env.js';
import { KvBlockStore, PrecisePrefixIndex, kvEventsIndexFactory } from '../../src/routing/prefix/precise-index.js';
import { ApproximatePrefixIndex } from '../../src/routing/prefix/approximate-index.js';
import { createPolicy } from '../../src/routing/registry.js';
import { promptBlockHashes } from '../../src/workload/block-hash.js';
import type { KvEventBatch } from '../../src/routing/prefix/kv-event-types.js';
import type { Request } from '../../src/workload/request.js';
import { ctx, scraped, workers } from './helpers.js';

let n = 0;
/** A prompt of `blocks` 16-token blocks; block b of family f holds tokens f*1000 + b*16 + (0..15). */
function req(family: number, blocks: number, extra: Partial<Request> = {}): Request {
  const ids = new Uint32Array(blocks * 16 + 3);
  for (let i = 0; i < ids.length; i++) ids[i] = family * 100_000 + i;
  return { id: `q${n++}`, arrivalS: 0, inputTokens: ids.length, outputTokens: 4, prefix: { kind: 'tokens', ids }, ...extra };
}

/** What vLLM would publish after caching the first `blocks` blocks of `r` (engine hashes made up: 7000+i). */
function idsOf(r: Request): Uint32Array {
  assert.ok(r.prefix?.kind === 'tokens' && r.prefix.ids instanceof Uint32Array);
  return r.prefix.ids;
}

function storedBatch(r: Request, blocks: number, blockSize = 16, hashBase = 7000): KvEventBatch {
  const ids = idsOf(r);
  return {
    ts: 0,
    dataParallelRank: null,
    events: [{ type: 'BlockStored', blockHashes: Array.from({ length: blocks }, (_, i) => hashBase + i), parentBlockHash: null, tokenIds: Array.from(ids.subarray(0, blocks * blockSize)), blockSize, loraId: null, medium: 'GPU' }],
  };
}

function setup(ttl = 5) {
  const clock = new VirtualClock();
  const store = new KvBlockStore();
  const ix = new PrecisePrefixIndex({ blockSize: 16, lruBlocks: 0, source: 'kv-events', speculativeTtlS: ttl }, store, clock);
  return { clock, store, ix, ws: workers(3) };
}

test('a live worker is matched on what its engine stored, not on where the router sent requests', () => {
  const { store, ix, ws } = setup(0);
  for (const w of ws) store.open(w.id);
  const r = req(1, 6);
  ix.recordRouted(r, ws[0]);
  store.applyBatch(ws[2].id, storedBatch(r, 4));
  const out = [0, 0, 0];
  assert.equal(ix.match(r, ws, out), 1);
  assert.deepEqual(out, [0, 0, 4]);
  // BlockRemoved of the third block cuts the match there.
  store.applyBatch(ws[2].id, { ts: 0, dataParallelRank: null, events: [{ type: 'BlockRemoved', blockHashes: [7002], medium: 'GPU' }] });
  ix.match(r, ws, out);
  assert.deepEqual(out, [0, 0, 2]);
});

test('speculative insert at routing time holds for the TTL, and events confirm or correct it', () => {
  const { clock, store, ix, ws } = setup(5);
  for (const w of ws) store.open(w.id);
  const a = req(2, 4);
  ix.recordRouted(a, ws[1]);
  const out = [0, 0, 0];
  clock.set(1);
  ix.match(req(2, 4), ws, out);
  assert.deepEqual(out, [0, 4, 0], 'a sibling arriving before any event finds the routed prefix');
  // The engine cached only 3 of the 4 blocks (say the 4th was private); after the TTL only those count.
  store.applyBatch(ws[1].id, storedBatch(a, 3));
  clock.set(6);
  ix.match(req(2, 4), ws, out);
  assert.deepEqual(out, [0, 3, 0]);
  // An eviction event removes a block at once, speculation or not.
  ix.recordRouted(a, ws[1]);
  store.applyBatch(ws[1].id, { ts: 0, dataParallelRank: null, events: [{ type: 'BlockRemoved', blockHashes: [7000], medium: 'GPU' }] });
  ix.match(req(2, 4), ws, out);
  assert.deepEqual(out, [0, 0, 0]);
});

test('a lost subscription drops that worker\'s index and falls back to the approximate one (never an error)', () => {
  const { store, ix, ws } = setup(5);
  for (const w of ws) store.open(w.id);
  const r = req(3, 5);
  store.applyBatch(ws[0].id, storedBatch(r, 5));
  ix.recordRouted(r, ws[2]);
  const out = [0, 0, 0];
  ix.match(r, ws, out);
  assert.deepEqual(out, [5, 0, 5]);
  store.drop(ws[0].id);
  store.drop(ws[2].id);
  ix.match(r, ws, out);
  // Worker 0's events are gone and the router never sent it r; worker 2 keeps its routed blocks (approximate).
  assert.deepEqual(out, [0, 0, 5]);
  // Events for a dropped worker are ignored until its stream is opened again.
  assert.equal(store.applyBatch(ws[0].id, storedBatch(r, 5)).stored, 0);
  store.open(ws[0].id);
  assert.equal(store.applyBatch(ws[0].id, storedBatch(r, 5)).stored, 5);
});

test('engine blocks of another size are converted by tokens; orphans (unknown parent) are not indexed', () => {
  const { store, ix, ws } = setup(0);
  store.open(ws[0].id);
  const r = req(4, 8);
  // Engine blocks of 32 tokens: 3 of them = 96 tokens = 6 router blocks of 16.
  store.applyBatch(ws[0].id, storedBatch(r, 3, 32));
  const out = [0];
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [6]);
  const ids = idsOf(r);
  const orphan = store.applyBatch(ws[0].id, {
    ts: 0,
    dataParallelRank: null,
    events: [{ type: 'BlockStored', blockHashes: [99], parentBlockHash: 12345, tokenIds: Array.from(ids.subarray(96, 128)), blockSize: 32, loraId: null, medium: 'GPU' }],
  });
  assert.equal(orphan.orphans, 1);
  // A chained store (parent = the 3rd engine block) extends the match.
  store.applyBatch(ws[0].id, {
    ts: 0,
    dataParallelRank: null,
    events: [{ type: 'BlockStored', blockHashes: [100], parentBlockHash: 7002, tokenIds: Array.from(ids.subarray(96, 128)), blockSize: 32, loraId: null, medium: 'GPU' }],
  });
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [8]);
  assert.deepEqual(promptBlockHashes({ kind: 'tokens', ids }, ids.length, 32).length, 4);
});

test('duplicate stores of one engine hash need as many removals (vLLM reports each cached copy)', () => {
  const { store, ix, ws } = setup(0);
  store.open(0);
  const r = req(5, 1);
  store.applyBatch(0, storedBatch(r, 1));
  store.applyBatch(0, storedBatch(r, 1));
  const rm: KvEventBatch = { ts: 0, dataParallelRank: null, events: [{ type: 'BlockRemoved', blockHashes: [7000], medium: 'GPU' }] };
  store.applyBatch(0, rm);
  const out = [0];
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [1]);
  store.applyBatch(0, rm);
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [0]);
  assert.equal(store.applyBatch(0, rm).unknownRemoved, 1);
});

test('events queued for later (the simulator\'s lag) apply when the router clock reaches them', () => {
  const { clock, store, ix, ws } = setup(0);
  store.open(0);
  const r = req(6, 2);
  store.later(2, () => store.applyBatch(0, storedBatch(r, 2)));
  const out = [0];
  clock.set(1.999);
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [0]);
  clock.set(2);
  ix.match(r, [ws[0]], out);
  assert.deepEqual(out, [2]);
});

test('precise-prefix routes to the worker whose engine holds the prefix; without event streams it is the weighted preset', () => {
  const clock = new VirtualClock();
  const store = new KvBlockStore();
  const env = createPolicyEnv(kvEventsIndexFactory(store, clock));
  const p = createPolicy('precise-prefix', {}, env);
  const ws = workers(3);
  for (const w of ws) {
    store.open(w.id);
    w.scraped = scraped({});
  }
  const r = req(7, 10);
  store.applyBatch(ws[1].id, storedBatch(r, 10));
  const c = ctx(3, clock);
  for (let i = 0; i < 20; i++) assert.equal(p.pick(req(7, 10), ws, c)?.worker, 1);
  // Only the precise scorer's index is precise: the env hands the approximate one to everyone else.
  assert.ok(createPolicyEnv(kvEventsIndexFactory(store, clock)).prefixIndex({ blockSize: 16, lruBlocks: 0 }) instanceof ApproximatePrefixIndex);

  // No streams (default env): identical decisions to `weighted` on the same sequence.
  const a = createPolicy('precise-prefix');
  const b = createPolicy('weighted');
  const ca = ctx(9);
  const cb = ctx(9);
  const wa = workers(4);
  const wb = workers(4);
  for (let i = 0; i < 200; i++) {
    const q = req(i % 7, 1 + (i % 5));
    const da = a.pick(q, wa, ca);
    const db = b.pick(q, wb, cb);
    assert.deepEqual(da, db);
    a.onDispatch?.(q, wa[da?.worker ?? 0], ca);
    b.onDispatch?.(q, wb[db?.worker ?? 0], cb);
  }
});

test('replica sharing: a decision replayed from another replica is speculative here, on the approximate fallback too, and events still correct it', () => {
  // Two replicas' indexes over their own stores (each replica's speculative layer is its own).
  const a = setup(5);
  const clockB = a.clock;
  const storeB = new KvBlockStore();
  const b = new PrecisePrefixIndex({ blockSize: 16, lruBlocks: 0, source: 'kv-events', speculativeTtlS: 5 }, storeB, clockB);
  for (const w of a.ws) {
    a.store.open(w.id);
    storeB.open(w.id);
  }
  const r = req(2, 5);
  a.ix.recordRouted(r, a.ws[1]);
  const out = [0, 0, 0];
  b.match(r, a.ws, out);
  assert.deepEqual(out, [0, 0, 0], 'replica b knows nothing of a\'s decision yet');
  const shared = new Map<number, readonly number[]>();
  a.ix.routedBlocks(r, a.ws[1], shared);
  assert.deepEqual([...shared.keys()], [16], 'engine block size not learnt yet: the index\'s own size only');
  assert.equal(shared.get(16)?.length, 5);
  b.recordRemote(shared, a.ws[1]);
  b.match(r, a.ws, out);
  assert.deepEqual(out, [0, 5, 0]);
  assert.equal(b.fallback.size(a.ws[1].index), 5, 'the approximate fallback learns it as well (warm if the stream drops)');
  // The TTL runs from the replay.
  clockB.set(5.01);
  b.match(r, a.ws, out);
  assert.deepEqual(out, [0, 0, 0]);
  // An engine's events override any speculation: stored elsewhere is matched there.
  b.recordRemote(shared, a.ws[1]);
  storeB.applyBatch(a.ws[2].id, storedBatch(r, 3));
  b.match(r, a.ws, out);
  assert.deepEqual(out, [0, 5, 3]);
  // Once the engine's block size is known and differs, the replayed keys are cut in its size.
  storeB.applyBatch(a.ws[0].id, storedBatch(req(9, 2), 1, 32, 9000));
  const both = new Map<number, readonly number[]>();
  b.routedBlocks(r, a.ws[0], both);
  assert.deepEqual([...both.keys()].sort((x, y) => x - y), [16, 32]);
  assert.equal(both.get(32)?.length, 2);
});

test('replica sharing: the approximate index replays another replica\'s decision as its own record', () => {
  const ws = workers(2);
  const a = new ApproximatePrefixIndex({ blockSize: 16, lruBlocks: 0 });
  const b = new ApproximatePrefixIndex({ blockSize: 16, lruBlocks: 0 });
  const r = req(3, 4);
  a.recordRouted(r, ws[0]);
  const m = new Map<number, readonly number[]>();
  a.routedBlocks(r, ws[0], m);
  b.recordRemote(m, ws[0]);
  const out = [0, 0];
  assert.equal(b.match(r, ws, out), 1);
  assert.deepEqual(out, [4, 0]);
  // Blocks of another size are not this index's: ignored.
  const c = new ApproximatePrefixIndex({ blockSize: 32, lruBlocks: 0 });
  c.recordRemote(m, ws[1]);
  assert.equal(c.size(ws[1].index), 0);
});

test('policy env: onRouted sees each local dispatch once; recordRemote replays into every index without echoing', () => {
  const ws = workers(2);
  const env = createPolicyEnv();
  const ix = env.prefixIndex({ blockSize: 16, lruBlocks: 0 });
  const seen: string[] = [];
  env.onRouted = (q, w) => seen.push(`${q.id}->${w.name}`);
  const r = req(4, 3);
  env.recordRouted(r, ws[1]);
  assert.deepEqual(seen, [`${r.id}->${ws[1].name}`]);
  const blocks = env.routedBlocks(r, ws[1]);
  const other = createPolicyEnv();
  const ix2 = other.prefixIndex({ blockSize: 16, lruBlocks: 0 });
  other.onRouted = () => assert.fail('a replayed decision is not shared again');
  other.recordRemote(blocks, ws[1]);
  assert.equal(ix2.size(ws[1].index), ix.size(ws[1].index));
});
