import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeqTable } from '../../src/util/seq-table.js';

test('SeqTable: set, get and delete by sequence number', () => {
  const t = new SeqTable<string>();
  t.set(1, 'a');
  t.set(2, 'b');
  t.set(7, 'c');
  assert.equal(t.size, 3);
  assert.equal(t.get(2), 'b');
  assert.equal(t.get(3), undefined);
  assert.equal(t.delete(2), true);
  assert.equal(t.delete(2), false);
  assert.equal(t.get(2), undefined);
  assert.equal(t.size, 2);
  t.set(1, 'a2');
  assert.equal(t.get(1), 'a2');
  assert.equal(t.size, 2, 'setting a key again replaces its value');
  assert.deepEqual(t.values(), ['a2', 'c']);
});

test('SeqTable: a key that lands on a held slot while the ring is over half full moves the older value to the overflow', () => {
  const t = new SeqTable<number>();
  const slots = t.slots;
  // Fill more than half the ring with keys 0 .. slots/2, then key `slots` lands on key 0's slot.
  for (let k = 0; k <= slots / 2; k++) t.set(k, k);
  t.set(slots, slots);
  assert.equal(t.slots, slots, 'no growth past half full');
  assert.equal(t.overflowed, 1);
  assert.equal(t.get(0), 0, 'the older value is still found');
  assert.equal(t.get(slots), slots);
  assert.equal(t.size, slots / 2 + 2);
  assert.equal(t.delete(0), true);
  assert.equal(t.overflowed, 0);
  assert.equal(t.get(slots), slots);
  assert.equal(t.get(0), undefined);
});

test('SeqTable: a collision while at most half full doubles the ring and keeps every value', () => {
  const t = new SeqTable<number>();
  const slots = t.slots;
  t.set(3, 3);
  t.set(5, 5);
  t.set(3 + slots, 33);
  assert.equal(t.slots, slots * 2);
  assert.equal(t.overflowed, 0);
  assert.deepEqual([t.get(3), t.get(5), t.get(3 + slots)], [3, 5, 33]);
  assert.equal(t.size, 3);
});

test('SeqTable: a counter\'s keys with values of random lifetimes agree with a Map (invariant on 50,000 keys)', () => {
  const t = new SeqTable<number>();
  const ref = new Map<number, number>();
  const open: number[] = [];
  let x = 777;
  for (let key = 1; key <= 50_000; key++) {
    t.set(key, key * 2);
    ref.set(key, key * 2);
    // Mostly short lives (ended a few keys later), one in 50 kept to the end (it meets newer keys on its slot).
    x = (x * 1103515245 + 12345) % 2147483648;
    if (x % 50 !== 0) open.push(key);
    while (open.length > 8) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const k = open.splice(x % open.length, 1)[0];
      assert.equal(t.delete(k), ref.delete(k));
    }
    assert.equal(t.size, ref.size);
  }
  assert.ok(t.slots > 1024 || t.overflowed > 0, 'the long-lived values met newer keys on their slots');
  for (const k of ref.keys()) assert.equal(t.get(k), ref.get(k));
  assert.equal(t.get(50_001), undefined);
  assert.deepEqual(new Set(t.values()), new Set(ref.values()));
});
