import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lengthSampler, syntheticRequests, type SyntheticOptions } from '../../src/workload/synthetic.js';
import { createRng, exponential } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';

/** The generator syntheticRequests was before it became an iterator object: the reference stream. */
function* reference(o: SyntheticOptions): Generator<Request> {
  const rng = createRng(o.seed);
  const blockTokens = o.sharedPrefix?.blockTokens ?? 16;
  let t = 0;
  let nextUnique = 2 ** 40;
  const outputLength = lengthSampler(o.output);
  const inputLength = lengthSampler(o.input);
  for (let i = 0; i < o.count; i++) {
    t += exponential(rng, o.rate);
    const out = outputLength(rng);
    let input = inputLength(rng);
    let prefix: Request['prefix'];
    if (o.sharedPrefix) {
      const g = rng.int(o.sharedPrefix.groups);
      input += o.sharedPrefix.prefixTokens;
      const shared = Math.floor(o.sharedPrefix.prefixTokens / blockTokens);
      const total = Math.ceil(input / blockTokens);
      const ids = new Array<number>(total);
      for (let b = 0; b < total; b++) ids[b] = b < shared ? g * 1_000_000 + b : nextUnique++;
      prefix = { kind: 'blocks', blockTokens, hashIds: ids };
    }
    yield { id: `syn-${i}`, arrivalS: t, inputTokens: input, outputTokens: out, prefix };
  }
}

test('syntheticRequests streams exactly the reference generator\'s requests (lengths, times, prefixes), then ends', () => {
  const cases: SyntheticOptions[] = [
    { seed: 2, rate: 400, count: 3000, input: { kind: 'lognormal', mean: 300, sigma: 1, min: 4, max: 4000 }, output: { kind: 'lognormal', mean: 200, sigma: 0.8, min: 1, max: 1500 } },
    { seed: 9, rate: 5, count: 500, input: { kind: 'exponential', mean: 100 }, output: { kind: 'fixed', mean: 64 }, sharedPrefix: { groups: 7, prefixTokens: 100, blockTokens: 16 } },
    { seed: 1, rate: 50, count: 300, input: { kind: 'fixed', mean: 33 }, output: { kind: 'exponential', mean: 20, max: 50 }, sharedPrefix: { groups: 3, prefixTokens: 64 } },
    { seed: 4, rate: 1, count: 0, input: { kind: 'fixed', mean: 1 }, output: { kind: 'fixed', mean: 1 } },
  ];
  for (const o of cases) {
    const got = [...syntheticRequests(o)];
    assert.deepEqual(got, [...reference(o)]);
    assert.equal(got.length, o.count);
  }
  // Iterating the stream again yields nothing: it is one pass, as the generator was.
  const it = syntheticRequests(cases[3]);
  assert.deepEqual(it.next(), { done: true, value: undefined });
  const once = syntheticRequests({ ...cases[0], count: 2 });
  assert.equal([...once].length, 2);
  assert.equal([...once].length, 0);
});
