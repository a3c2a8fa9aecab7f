import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotSet, type Slotted } from '../../src/util/slot-set.js';

const item = (name: string): Slotted & { name: string } => ({ name, slot: -1 });
const names = (s: SlotSet<Slotted & { name: string }>): string[] => s.toArray().map((x) => x.name);

test('SlotSet: add and delete keep each member at its slot, the last member filling a hole', () => {
  const s = new SlotSet<Slotted & { name: string }>();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item);
  for (const x of [a, b, c, d]) s.add(x);
  assert.equal(s.size, 4);
  assert.deepEqual([a.slot, b.slot, c.slot, d.slot], [0, 1, 2, 3]);
  assert.equal(s.delete(b), true);
  // d moved into b's slot; b is out.
  assert.deepEqual(names(s), ['a', 'd', 'c']);
  assert.deepEqual([a.slot, b.slot, c.slot, d.slot], [0, -1, 2, 1]);
  assert.equal(s.delete(b), false);
  assert.equal(s.has(b), false);
  assert.equal(s.delete(c), true);
  assert.deepEqual(names(s), ['a', 'd']);
  s.add(a);
  assert.equal(s.size, 2, 'adding a member twice is a no-op');
  s.add(b);
  assert.deepEqual(names(s), ['a', 'd', 'b']);
  assert.equal(b.slot, 2);
});

test('SlotSet: a member of another set is not taken for one of this set', () => {
  const s1 = new SlotSet<Slotted & { name: string }>();
  const s2 = new SlotSet<Slotted & { name: string }>();
  const [a, b] = ['a', 'b'].map(item);
  s1.add(a);
  s2.add(b);
  assert.equal(s2.has(a), false);
  assert.equal(s2.delete(a), false);
  assert.deepEqual(names(s2), ['b']);
});

test('SlotSet: toArray is a snapshot, so members can leave while it is iterated', () => {
  const s = new SlotSet<Slotted & { name: string }>();
  const xs = Array.from({ length: 100 }, (_, i) => item(`x${i}`));
  for (const x of xs) s.add(x);
  for (const x of s.toArray()) s.delete(x);
  assert.equal(s.size, 0);
  assert.ok(xs.every((x) => x.slot === -1));
});

test('SlotSet: random adds and deletes agree with a Set (invariant on 20,000 operations)', () => {
  const s = new SlotSet<Slotted & { name: string }>();
  const ref = new Set<Slotted & { name: string }>();
  const pool = Array.from({ length: 300 }, (_, i) => item(`p${i}`));
  let x = 12345;
  for (let k = 0; k < 20_000; k++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const m = pool[x % pool.length];
    if ((x >> 8) % 3 === 0) {
      assert.equal(s.delete(m), ref.delete(m));
    } else {
      s.add(m);
      ref.add(m);
    }
    assert.equal(s.size, ref.size);
  }
  assert.deepEqual(new Set(s.toArray()), ref);
  for (const m of pool) assert.equal(s.has(m), ref.has(m));
});
