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
