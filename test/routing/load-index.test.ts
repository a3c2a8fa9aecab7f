import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightIndex } from '../../src/routing/load-index.js';
import { argminRandomTie } from '../../src/routing/pick.js';
import { loadRange } from '../../src/routing/candidates.js';
import { createRng } from '../../src/util/rng.js';
import type { WorkerView } from '../../src/routing/types.js';

test('InFlightIndex gives loadRange\'s range and picks exactly what argminRandomTie picks, with the same draws, through random load changes', () => {
  for (const n of [1, 2, 3, 7, 8, 33]) {
    const views = Array.from({ length: n }, (_, i) => ({ index: i, inFlight: 0 }) as WorkerView);
    const index = new InFlightIndex(views);
    const a = createRng(11);
    const b = createRng(11);
    const moves = createRng(5);
    for (let step = 0; step < 2000; step++) {
      const w = views[moves.int(n)];
      w.inFlight = Math.max(0, w.inFlight + (moves.next() < 0.55 ? 1 : -1));
      index.update(w);
      assert.deepEqual(index.range(), loadRange(views, (v) => v.inFlight));
      assert.equal(index.argminRandomTie(a), argminRandomTie(views, (v) => v.inFlight, b), `n=${n} step=${step}`);
    }
    // Same number of draws consumed: the generators are still in step.
    assert.equal(a.next(), b.next());
  }
});

test('InFlightIndex sums equal a scan\'s sums through random load changes; a fractional count withholds them until every count is whole again', () => {
  const views = Array.from({ length: 13 }, (_, i) => ({ index: i, inFlight: i % 3 }) as WorkerView);
  const index = new InFlightIndex(views);
  const moves = createRng(8);
  const scan = (): [number, number] => [views.reduce((s, v) => s + v.inFlight, 0), views.reduce((s, v) => s + v.inFlight * v.inFlight, 0)];
  for (let step = 0; step < 3000; step++) {
    const w = views[moves.int(views.length)];
    const r = moves.next();
    // Mostly whole counts; now and then a garbled fractional one, later made whole again.
    w.inFlight = r < 0.03 ? w.inFlight + 0.1 : Math.max(0, Math.round(w.inFlight) + (r < 0.55 ? 1 : -1));
    index.update(w);
    const fractional = views.some((v) => !Number.isInteger(v.inFlight));
    if (fractional) {
      assert.equal(index.total(), undefined, `step ${step}`);
      assert.equal(index.sumSquares(), undefined);
    } else assert.deepEqual([index.total(), index.sumSquares()], scan(), `step ${step}`);
  }
});

test('InFlightIndex builds its max tree at the first range() after any number of updates, and keeps it from then on', () => {
  for (const n of [1, 5, 16, 37]) {
    const views = Array.from({ length: n }, (_, i) => ({ index: i, inFlight: i % 4 }) as WorkerView);
    const index = new InFlightIndex(views);
    const a = createRng(3);
    const b = createRng(3);
    const moves = createRng(9);
    for (let step = 0; step < 1500; step++) {
      const w = views[moves.int(n)];
      w.inFlight = Math.max(0, w.inFlight + (moves.next() < 0.5 ? 1 : -1));
      index.update(w);
      assert.equal(index.argminRandomTie(a), argminRandomTie(views, (v) => v.inFlight, b));
      // No range() for the first 700 steps (least-request's use), then every few steps.
      if (step >= 700 && step % 3 === 0) assert.deepEqual(index.range(), loadRange(views, (v) => v.inFlight), `n=${n} step=${step}`);
    }
  }
  assert.deepEqual(new InFlightIndex([]).range(), loadRange([], (v) => v.inFlight));
});

test('InFlightIndex updated through arbitrary jumps (large, fractional, to and from the minimum) picks what one built afresh picks', () => {
  for (const n of [2, 5, 16, 37]) {
    const views = Array.from({ length: n }, (_, i) => ({ index: i, inFlight: i % 4 }) as WorkerView);
    const index = new InFlightIndex(views);
    const moves = createRng(n);
    for (let step = 0; step < 3000; step++) {
      const w = views[moves.int(n)];
      const r = moves.next();
      w.inFlight = r < 0.4 ? Math.max(0, w.inFlight + (moves.next() < 0.5 ? 1 : -1)) : r < 0.7 ? moves.int(6) : r < 0.85 ? moves.int(40) : moves.int(8) + 0.5;
      index.update(w);
      const fresh = new InFlightIndex(views);
      assert.deepEqual(index.range(), fresh.range(), `n=${n} step=${step}`);
      const a = createRng(step);
      const b = createRng(step);
      assert.equal(index.argminRandomTie(a), fresh.argminRandomTie(b), `n=${n} step=${step}`);
      assert.equal(a.next(), b.next(), 'same draws');
    }
  }
});
