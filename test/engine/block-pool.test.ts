import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '../../src/engine/block-pool.js';

test('allocates in order and counts free blocks', () => {
  const p = new BlockPool(4, true);
  assert.equal(p.free, 4);
  assert.deepEqual([p.allocate(), p.allocate()], [0, 1]);
  assert.equal(p.free, 2);
  assert.equal(p.used, 2);
});

test('a released cached block stays a hit until it is evicted, least recently freed first', () => {
  const p = new BlockPool(3, true);
  const a = p.allocate();
  const b = p.allocate();
  p.register(a, 111);
  p.register(b, 222);
  p.release([a, b]); // reverse order: b freed first, then a
  assert.equal(p.free, 3);
  assert.equal(p.lookup(111), a);
  assert.equal(p.lookup(222), b);
  // Free queue is now [2, b, a]: the first allocation takes the never-used block, the next evicts b.
  assert.equal(p.allocate(), 2);
  assert.equal(p.allocate(), b);
  assert.equal(p.lookup(222), -1);
  assert.equal(p.lookup(111), a);
});

test('touching a free cached block takes it off the free queue', () => {
  const p = new BlockPool(2, true);
  const a = p.allocate();
  p.register(a, 7);
  p.release([a]);
  assert.equal(p.free, 2);
  p.touch(a);
  assert.equal(p.free, 1);
  assert.equal(p.refCount(a), 1);
  assert.equal(p.allocate(), 1);
  assert.equal(p.free, 0);
  p.release([a]);
  assert.equal(p.lookup(7), a);
});

test('with caching disabled nothing is ever a hit', () => {
  const p = new BlockPool(2, false);
  const a = p.allocate();
  p.register(a, 9);
  assert.equal(p.lookup(9), -1);
});
