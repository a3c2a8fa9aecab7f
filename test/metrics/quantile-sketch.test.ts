import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuantileSketch } from '../../src/metrics/quantile-sketch.js';
import { createRng } from '../../src/util/rng.js';

/** Each value bucketed on its own by the logarithm (a fresh sketch has no cached bucket), merged. */
function reference(values: readonly number[]): QuantileSketch {
  const all = new QuantileSketch();
  for (const v of values) {
    const one = new QuantileSketch();
    one.add(v);
    all.merge(one);
  }
  return all;
}

test('quantile sketch: the cached bucket of a run of close values buckets every value as the logarithm does, on and around bucket edges', () => {
  const rng = createRng(4);
  const gamma = 1.005 / 0.995;
  const values: number[] = [];
  for (let run = 0; run < 400; run++) {
    // Runs around one bucket edge (γ^k, in ulps and in relative steps of 1e-12..1e-3), as ITL runs are, plus random values.
    const edge = gamma ** (rng.int(4000) - 1000);
    for (let j = 0; j < 30; j++) {
      const r = rng.next();
      const v = r < 0.3 ? edge * (1 + (rng.next() - 0.5) * 10 ** -(3 + rng.int(10))) : r < 0.5 ? edge + (rng.int(7) - 3) * Number.EPSILON * edge : r < 0.9 ? edge * (1 + (rng.next() - 0.5) * 0.02) : rng.next() * 1e4;
      values.push(v);
    }
  }
  const s = new QuantileSketch();
  for (const v of values) s.add(v);
  const ref = reference(values);
  assert.equal(s.count, ref.count);
  // Every rank: one value in a neighbouring bucket moves the value at some rank.
  const n = s.count;
  for (let k = 0; k < n; k++) assert.equal(s.quantile(k / (n - 1)), ref.quantile(k / (n - 1)), `rank ${k}`);
});
