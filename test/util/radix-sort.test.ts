import { test } from 'node:test';
import assert from 'node:assert/strict';
import { radixSortFloat64, sortFloat64 } from '../../src/util/radix-sort.js';
import { createRng } from '../../src/util/rng.js';

/** Element for element, by Object.is (so −0 and +0 differ, NaN equals NaN). */
function assertSame(got: Float64Array, want: Float64Array): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`index ${i}: got ${got[i]}, want ${want[i]}`);
}

test('radix sort: hand-checked small cases, signs, zeros, infinities and NaN in the built-in order', () => {
  assertSame(radixSortFloat64(new Float64Array([3, 1, 2])), new Float64Array([1, 2, 3]));
  assertSame(radixSortFloat64(new Float64Array([])), new Float64Array([]));
  assertSame(radixSortFloat64(new Float64Array([5])), new Float64Array([5]));
  assertSame(radixSortFloat64(new Float64Array([0, -0, 0, -0])), new Float64Array([-0, -0, 0, 0]));
  assertSame(
    radixSortFloat64(new Float64Array([NaN, 1.5, -Infinity, -2.25, Infinity, 0, -0, Number.MIN_VALUE, -Number.MIN_VALUE, NaN, -1e300, 1e300])),
    new Float64Array([-Infinity, -1e300, -2.25, -Number.MIN_VALUE, -0, 0, Number.MIN_VALUE, 1.5, 1e300, Infinity, NaN, NaN]),
  );
  // A NaN with the sign bit set still sorts last (the built-in's order), not first.
  const negNaN = new Float64Array(3);
  new Uint32Array(negNaN.buffer).set([0, 0xfff80000, 0, 0x40000000, 0, 0xbff00000]);
  const sorted = radixSortFloat64(negNaN);
  assert.deepEqual([sorted[0], sorted[1]], [-1, 2]);
  assert.ok(Number.isNaN(sorted[2]));
  // Values differing only in the lowest mantissa bit (the first pass's digit).
  const a = 1 + Number.EPSILON;
  const b = 1 + 2 * Number.EPSILON;
  assertSame(radixSortFloat64(new Float64Array([b, 1, a, -a, -1, -b])), new Float64Array([-b, -a, -1, 1, a, b]));
});

test('radix sort equals Float64Array.prototype.sort on random arrays of every shape (subarrays too)', () => {
  const rng = createRng(11);
  const gens: ((i: number) => number)[] = [
    () => Math.exp(8 * rng.next()) * (rng.next() < 0.1 ? -1 : 1),
    () => Math.floor(rng.next() * 50),
    () => (rng.next() < 0.3 ? 0 : rng.next() < 0.5 ? -0 : rng.next() * 1e-300),
    (i) => (i % 97 === 0 ? NaN : i % 89 === 0 ? Infinity : (rng.next() - 0.5) * 1e6),
    () => 42,
  ];
  for (const n of [1, 2, 17, 1000, 40_000]) {
    for (const g of gens) {
      const whole = new Float64Array(n + 3);
      for (let i = 0; i < whole.length; i++) whole[i] = g(i);
      // A subarray at an offset: the sort reads the words of the view, not of the whole buffer.
      const values = whole.subarray(3);
      const want = values.slice().sort();
      const before = whole.slice(0, 3);
      assertSame(radixSortFloat64(values.slice()), want);
      assertSame(sortFloat64(values), want);
      assertSame(whole.subarray(0, 3), before);
    }
  }
});
