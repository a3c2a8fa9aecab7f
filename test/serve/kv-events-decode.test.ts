import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { decodeKvEventMessage, type DecodedMessage } from '../../src/serve/kv-events/decode.js';
import { KvBlockStore } from '../../src/routing/prefix/precise-index.js';
import { kvEventFrames } from '../../src/mock/kv-events-encode.js';
import { promptBlockHashes } from '../../src/workload/block-hash.js';
import type { KvEventBatch } from '../../src/routing/prefix/kv-event-types.js';

interface Fixture {
  name: string;
  frames: string[];
}
const doc = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'kv-events', 'messages.json'), 'utf8')) as { valid: Fixture[]; malformed: Fixture[] };
const frames = (f: Fixture): Uint8Array[] => f.frames.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
const fixture = (name: string): DecodedMessage => {
  const f = [...doc.valid, ...doc.malformed].find((x) => x.name === name);
  assert.ok(f, name);
  const m = decodeKvEventMessage(frames(f));
  assert.ok(m.ok, m.ok ? '' : m.reason);
  return m;
};
/** The router's keys of a prompt's 4-token blocks: what a request with these token ids is matched by. */
const keys = (ids: number[]): number[] => promptBlockHashes({ kind: 'tokens', ids }, ids.length, 4);

test('vLLM 0.10 shape: int hashes of every width, parent chain, BlockRemoved; fields decoded exactly', () => {
  const m = fixture('v0.10-int-hashes');
  assert.equal(m.topic, '');
  assert.equal(m.seq, 0);
  assert.equal(m.unknownEvents, 0);
  assert.equal(m.batch.ts, 1764590000.25);
  assert.equal(m.batch.dataParallelRank, null);
  assert.deepEqual(m.batch.events, [
    { type: 'BlockStored', blockHashes: [1234567, 18446744073709551557n], parentBlockHash: null, tokenIds: [1, 2, 3, 4, 5, 6, 7, 8], blockSize: 4, loraId: null, medium: 'GPU' },
    { type: 'BlockStored', blockHashes: [-42n], parentBlockHash: 18446744073709551557n, tokenIds: [9, 10, 11, 12], blockSize: 4, loraId: null, medium: 'GPU' },
    { type: 'BlockRemoved', blockHashes: [1234567], medium: 'GPU' },
  ]);
  // The router keys blocks by its own hash of the token ids, chained through the parent's key.
  const store = new KvBlockStore();
  store.open(0);
  const r = store.applyBatch(0, m.batch);
  assert.deepEqual(r, { stored: 3, removed: 1, cleared: 0, orphans: 0, lora: 0, unknownRemoved: 0 });
  // Block 1 (tokens 1-4) was removed: nothing matches from the start any more...
  assert.equal(store.matchLength(0, keys([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 0), 0);
  assert.equal(store.blockCount(0), 2);
  // ...though blocks 2 and 3 are still there under their prefix keys.
  const k = keys([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  store.speculate(0, [k[0]], 10, 0);
  assert.equal(store.matchLength(0, k, 0), 3);
});

test('a future version: bytes hashes, unknown trailing fields, an unknown event type and an extra batch field are tolerated', () => {
  const m = fixture('future-bytes-hashes-extra-fields');
  assert.equal(m.topic, 'kv@10.0.0.7@llama');
  assert.equal(m.seq, 7);
  assert.equal(m.unknownEvents, 1);
  assert.equal(m.batch.dataParallelRank, 1);
  assert.equal(m.batch.events.length, 3);
  const [a, b, c] = m.batch.events;
  assert.equal(a.type, 'BlockStored');
  assert.ok(a.type === 'BlockStored' && a.blockHashes[0] instanceof Uint8Array && a.blockHashes[0].length === 32);
  assert.ok(b.type === 'BlockStored' && b.parentBlockHash instanceof Uint8Array && b.parentBlockHash[0] === 32);
  assert.equal(c.type, 'BlockRemoved');
  const store = new KvBlockStore();
  store.open(5);
  assert.deepEqual(store.applyBatch(5, m.batch), { stored: 3, removed: 1, cleared: 0, orphans: 0, lora: 0, unknownRemoved: 0 });
  // Blocks 2 and 3 remain (block 1 was removed): keys of tokens 1-8 and 1-12 are held.
  const k = keys([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(store.blockCount(5), 2);
  assert.equal(store.matchLength(5, k.slice(1), 0), 2);
});

test('an older version: num_toks_per_block in place of block_size, trailing defaults and the dp rank omitted', () => {
  const m = fixture('old-num-toks-per-block');
  assert.deepEqual(m.batch, {
    ts: 1764590002,
    dataParallelRank: null,
    events: [
      { type: 'BlockStored', blockHashes: [11, 12], parentBlockHash: null, tokenIds: [1, 2, 3, 4, 5, 6, 7, 8], blockSize: 4, loraId: null, medium: null },
      { type: 'BlockRemoved', blockHashes: [12], medium: null },
    ],
  });
  const store = new KvBlockStore();
  store.open(0);
  store.applyBatch(0, m.batch);
  assert.equal(store.matchLength(0, keys([1, 2, 3, 4, 5, 6, 7, 8]), 0), 1);
});

test('LoRA blocks are not indexed for base-model requests; AllBlocksCleared empties the index', () => {
  const m = fixture('cleared-and-lora');
  const store = new KvBlockStore();
  store.open(0);
  const r = store.applyBatch(0, { ...m.batch, events: m.batch.events.slice(0, 2) });
  assert.equal(r.lora, 1);
  assert.equal(store.blockCount(0), 1);
  assert.equal(store.applyBatch(0, m.batch).cleared, 1);
  assert.equal(store.blockCount(0), 0);
  assert.equal(store.matchLength(0, keys([1, 2, 3, 4]), 0), 0);
});

test('malformed messages (garbage bytes, wrong frames, wrong shapes) are reported, never thrown, and apply nothing', () => {
  const reasons = new Map<string, string>();
  for (const f of doc.malformed) {
    const m = decodeKvEventMessage(frames(f));
    assert.equal(m.ok, false, f.name);
    if (!m.ok) reasons.set(f.name, m.reason);
  }
  assert.match(reasons.get('garbage-payload') ?? '', /not msgpack/);
  assert.match(reasons.get('two-frames') ?? '', /expected 3 frames/);
  assert.match(reasons.get('short-seq') ?? '', /8 bytes/);
  assert.match(reasons.get('map-not-array') ?? '', /KVEventBatch array/);
  assert.match(reasons.get('tokens-do-not-fill-blocks') ?? '', /3 token ids for 2 blocks of 4/);
  assert.match(reasons.get('hash-of-wrong-type') ?? '', /events\[0\]\.block_hashes\[0\]/);
  assert.match(reasons.get('event-not-tagged') ?? '', /event's name/);
  assert.match(reasons.get('truncated') ?? '', /not msgpack/);
  // Random bytes of every length up to 64: never a throw.
  let x = 12345;
  for (let n = 0; n < 64; n++) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const m = decodeKvEventMessage([new Uint8Array(0), new Uint8Array(8), bytes]);
    if (m.ok) assert.ok(Array.isArray(m.batch.events));
  }
});

test('the mock worker\'s encoder writes what the decoder reads (field order and types round-trip)', () => {
  const batch: KvEventBatch = {
    ts: 12.5,
    dataParallelRank: null,
    events: [
      { type: 'BlockStored', blockHashes: [2 ** 52 + 3, 7], parentBlockHash: null, tokenIds: [5, 6, 7, 8, 9, 10, 11, 12], blockSize: 4, loraId: null, medium: 'GPU' },
      { type: 'BlockRemoved', blockHashes: [7], medium: 'GPU' },
      { type: 'AllBlocksCleared' },
    ],
  };
  const m = decodeKvEventMessage(kvEventFrames('t', 2 ** 40, batch));
  assert.ok(m.ok);
  assert.equal(m.seq, 2 ** 40);
  assert.equal(m.topic, 't');
  // 64-bit ints come back as bigint; the index keys them by value, so 2^52+3 as number or bigint is one block.
  assert.deepEqual(m.batch.events[1], { type: 'BlockRemoved', blockHashes: [7], medium: 'GPU' });
  const s = m.batch.events[0];
  assert.ok(s.type === 'BlockStored');
  assert.equal(BigInt(s.blockHashes[0] as bigint | number), BigInt(2 ** 52 + 3));
  const store = new KvBlockStore();
  store.open(0);
  store.applyBatch(0, { ...m.batch, events: m.batch.events.slice(0, 1) });
  store.applyBatch(0, { ts: 0, dataParallelRank: null, events: [{ type: 'BlockRemoved', blockHashes: [2 ** 52 + 3], medium: 'GPU' }] });
  assert.equal(store.blockCount(0), 1);
});
