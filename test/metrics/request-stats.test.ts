import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuantileSketch } from '../../src/metrics/quantile-sketch.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { createPolicy } from '../../src/routing/registry.js';
import { Simulation } from '../../src/sim/simulator.js';
import { parseSlo } from '../../src/metrics/slo.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { quantile } from '../../src/util/stats.js';
import { createRng } from '../../src/util/rng.js';

test('quantile sketch: within its relative accuracy of the exact quantile; shards merge into the sketch of all', () => {
  const rng = createRng(3);
  const values = Array.from({ length: 20_000 }, () => Math.exp(rng.next() * 12) * 0.01);
  values.push(0, 0, 0);
  const all = new QuantileSketch();
  const parts = [new QuantileSketch(), new QuantileSketch(), new QuantileSketch()];
  values.forEach((v, i) => {
    all.add(v);
    parts[i % 3].add(v);
  });
  const merged = new QuantileSketch();
  for (const p of parts) merged.merge(p);
  const sorted = Float64Array.from(values).sort();
  for (const q of [0, 0.001, 0.5, 0.9, 0.99, 0.999, 1]) {
    const exact = quantile(sorted, q);
    const got = all.quantile(q);
    assert.ok(Math.abs(got - exact) <= 0.006 * exact + 1e-12, `q=${q}: ${got} vs ${exact}`);
    assert.equal(merged.quantile(q), got);
  }
  assert.equal(merged.count, all.count);
  assert.equal(new QuantileSketch().quantile(0.5), NaN);
});

test('summary mode keeps no per-request log; counts, goodput and attainment equal the full log, percentiles within 0.5 %', async () => {
  const run = async (requestLog: 'full' | 'summary') =>
    new Simulation({
      fleet: parseFleet('l20:3'),
      policy: createPolicy('least-request'),
      requests: syntheticRequests({ seed: 5, rate: 9, count: 4000, input: { kind: 'lognormal', mean: 300, sigma: 1, min: 4, max: 4000 }, output: { kind: 'lognormal', mean: 200, sigma: 0.8, min: 1, max: 1500 } }),
      seed: 1,
      scrapeIntervalS: 1,
      timeseriesIntervalS: 1,
      slo: parseSlo('ttft_ms=500,tpot_ms=60'),
      requestLog,
      timeseries: requestLog === 'full',
    }).run();
  const full = await run('full');
  const sum = await run('summary');
  assert.equal(sum.log.length, 0);
  assert.equal(sum.timeseries.length, 0);
  assert.equal(full.log.length, 4000);
  for (const k of ['requests', 'completed', 'rejected', 'duration_s', 'throughput_rps', 'output_tokens_per_s', 'goodput_rps', 'slo_attainment', 'prefix_hit_rate', 'cost_usd', 'imbalance'] as const) {
    assert.equal(sum.summary[k], full.summary[k], k);
  }
  assert.ok((full.summary.slo_attainment ?? 1) < 1 && (full.summary.slo_attainment ?? 0) > 0, 'a run that misses some SLOs');
  for (const k of ['ttft_ms', 'tpot_ms', 'e2e_ms'] as const) {
    assert.ok(Math.abs(sum.summary[k].mean - full.summary[k].mean) <= 1e-9 * full.summary[k].mean, `${k} mean`);
    assert.ok(Math.abs(sum.summary[k].std - full.summary[k].std) <= 1e-6 * full.summary[k].std, `${k} std`);
    for (const p of ['p50', 'p90', 'p99'] as const) {
      const want = full.summary[k][p];
      assert.ok(Math.abs(sum.summary[k][p] - want) <= 0.006 * want, `${k} ${p}: ${sum.summary[k][p]} vs ${want}`);
    }
  }
  assert.deepEqual(sum.summary.slo_classes, full.summary.slo_classes);
});
