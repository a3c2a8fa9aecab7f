import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockIndex } from '../../src/routing/prefix/block-index.js';
import { NumberLru } from '../../src/util/number-lru.js';
import { requestBlockHashes } from '../../src/routing/prefix/request-blocks.js';
import { blockReq, range, textReq, workers } from './helpers.js';

test('NumberLru: touch refreshes, inserts evict the least recent, evictOldest keeps storage dense', () => {
  const l = new NumberLru(3);
  l.touch(1);
  l.touch(2);
  l.touch(3);
  assert.deepEqual(l.touch(1), { inserted: false, evicted: undefined });
  assert.deepEqual(l.touch(4), { inserted: true, evicted: 2 });
  assert.equal(l.evictOldest(), 3);
  l.touch(5);
  assert.deepEqual([...l.values()].sort(), [1, 4, 5]);
  assert.equal(l.evictOldest(), 1);
  assert.equal(l.evictOldest(), 4);
  assert.equal(l.evictOldest(), 5);
  assert.equal(l.evictOldest(), undefined);
  for (let i = 0; i < 100; i++) l.touch(i);
  assert.equal(l.size, 3);
  assert.deepEqual([...l.values()].sort((a, b) => a - b), [97, 98, 99]);
});

test('contiguous match per candidate; a hole ends the match', () => {
  const idx = new BlockIndex();
  const ws = workers(3);
  const a = requestBlockHashes(blockReq(range(100, 8)), 16);
  assert.equal(a.length, 8);
  idx.record(a, 0, 1000);
  idx.record(a.slice(0, 3), 1, 1000);
  idx.record(a.slice(1), 2, 1000); // lacks block 0
  const out: number[] = [];
  assert.equal(idx.match(a, ws, out), 2);
  assert.deepEqual(out, [8, 3, 0]);
  assert.equal(idx.match(a, [ws[1], ws[2]], out), 1);
  assert.deepEqual(out.slice(0, 2), [3, 0]);
});

test('per-worker LRU forgets a prompt tail-first', () => {
  const idx = new BlockIndex();
  const ws = workers(1);
  const a = requestBlockHashes(blockReq(range(0, 6)), 16);
  const b = requestBlockHashes(blockReq(range(1000, 4)), 16);
  idx.record(a, 0, 8);
  idx.record(b, 0, 8); // 10 blocks > 8: a's last two blocks go
  const out: number[] = [];
  idx.match(a, ws, out);
  assert.equal(out[0], 4);
  assert.equal(idx.size(0), 8);
});

test('text prompts hash in 64-character chunks (16 tokens × 4)', () => {
  const t1 = textReq('x'.repeat(64 * 3 + 10));
  const t2 = textReq('x'.repeat(64 * 2) + 'y'.repeat(64));
  const h1 = requestBlockHashes(t1, 16);
  const h2 = requestBlockHashes(t2, 16);
  assert.equal(h1.length, 3);
  assert.deepEqual(h1.slice(0, 2), h2.slice(0, 2));
  assert.notEqual(h1[2], h2[2]);
  assert.deepEqual(requestBlockHashes({ id: 'e', arrivalS: 0, inputTokens: 5 }, 16), []);
});
