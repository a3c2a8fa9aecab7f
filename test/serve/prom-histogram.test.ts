import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { LeanHistogram } from '../../src/serve/prom-histogram.js';
import { createRng } from '../../src/util/rng.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

test('lean histogram: /metrics text identical to prom-client Histogram, empty and after observations (on bounds, above all, zero)', async () => {
  const a = new Registry();
  const b = new Registry();
  const ref = new Histogram({ name: 'x_seconds', help: 'Some latency', buckets: BUCKETS, registers: [a] });
  const lean = new LeanHistogram('x_seconds', 'Some latency', BUCKETS, b);
  assert.equal(await b.metrics(), await a.metrics(), 'no observation yet');
  const rng = createRng(5);
  const values = [0, 0.005, 0.01, 5, 6, 1e-9, 0.3];
  for (let i = 0; i < 500; i++) values.push(rng.next() * rng.next() * 8);
  for (const v of values) {
    ref.observe(v);
    lean.observe(v);
  }
  const text = await b.metrics();
  assert.equal(text, await a.metrics());
  assert.match(text, new RegExp(`x_seconds_count ${values.length}\\n`));
  // Hand-checked: a bound is inclusive, a value above every bound is only in +Inf.
  const c = new Registry();
  const small = new LeanHistogram('y', 'h', [0.005, 0.01], c);
  for (const v of [0, 0.005, 0.0051, 6]) small.observe(v);
  assert.equal(await c.metrics(), '# HELP y h\n# TYPE y histogram\ny_bucket{le="0.005"} 2\ny_bucket{le="0.01"} 3\ny_bucket{le="+Inf"} 4\ny_sum 6.0101\ny_count 4\n');
  lean.reset();
  ref.reset();
  assert.equal(await b.metrics(), await a.metrics(), 'after reset');
});
