import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, metricParity, parityVerdict } from '../../bench/parity-stats.js';

test('parity verdict: the median of several live runs, with the spread, so one noisy run does not fail it', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  // One run 6.3% off on a busy machine, two within 2%: the median passes at 5%, the spread shows the outlier.
  const ttft = metricParity('TTFT', 100, [101, 106.3, 98.5]);
  assert.equal(ttft.median, 101);
  assert.ok(Math.abs(ttft.diff - 0.01) < 1e-12);
  assert.ok(Math.abs(ttft.minDiff + 0.015) < 1e-12 && Math.abs(ttft.maxDiff - 0.063) < 1e-12);
  const v = parityVerdict([ttft, metricParity('E2E', 1000, [1010, 1020, 990])], 0.05);
  assert.ok(v.ok && Math.abs(v.worst - 0.01) < 1e-12, JSON.stringify(v));
  // A model error moves every run: the median fails.
  const off = metricParity('TPOT', 20, [21.4, 21.6, 21.5]);
  assert.equal(parityVerdict([off], 0.05).ok, false);
});
