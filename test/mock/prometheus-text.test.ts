import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText, sampleSum, PromParseError } from '../../src/util/prometheus-text.js';

const GOOD = `# HELP vllm:num_requests_running Number of requests.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m \\"q\\" \\\\ x"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2 1700000000000
# a plain comment
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total 1.5e3
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1.0"} 4
h_bucket{le="+Inf"} 5
h_sum 2.5
h_count 5
untyped_thing NaN
`;

test('parses families, labels with escapes, timestamps, special values', () => {
  const fams = parsePrometheusText(GOOD);
  assert.deepEqual(fams.map((f) => [f.name, f.type, f.samples.length]), [
    ['vllm:num_requests_running', 'gauge', 2],
    ['vllm:prefix_cache_hits_total', 'counter', 1],
    ['h', 'histogram', 5],
    ['untyped_thing', 'untyped', 1],
  ]);
  assert.equal(fams[0].help, 'Number of requests.');
  assert.equal(fams[0].samples[0].labels.model_name, 'm "q" \\ x');
  assert.equal(fams[0].samples[1].timestampMs, 1700000000000);
  assert.equal(sampleSum(fams, 'vllm:num_requests_running'), 5);
  assert.equal(sampleSum(fams, 'vllm:prefix_cache_hits_total'), 1500);
  assert.ok(Number.isNaN(fams[3].samples[0].value));
  assert.equal(fams[2].samples[2].labels.le, '+Inf');
});

test('rejects malformed pages with the line number', () => {
  const bad: [string, RegExp][] = [
    ['x{a="1"', /unterminated|expected/],
    ['x{a=1} 2', /quoted/],
    ['x 1 2 3', /value \[timestamp\]/],
    ['x abc', /bad sample value/],
    ['# TYPE x foo\nx 1', /unknown type/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1', /cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1', /\+Inf/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1', /_count/],
    ['a 1\nb 1\na 2', /split/],
  ];
  for (const [text, re] of bad) assert.throws(() => parsePrometheusText(text), (e: unknown) => e instanceof PromParseError && re.test(e.message), text);
});
