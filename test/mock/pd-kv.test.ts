import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type Sequence } from '../../src/engine/engine.js';
import { engineConfig, linearCost } from '../helpers/fixtures.js';
import { injectReceivedKv, locallyCachedTokens } from '../../src/mock/pd-kv.js';
import type { Request } from '../../src/workload/request.js';

const req = (id: string, n: number, out = 3, seed = 1): Request => ({ id, arrivalS: 0, inputTokens: n, outputTokens: out, prefix: { kind: 'tokens', ids: Array.from({ length: n }, (_, i) => seed * 1000 + i) } });

function run(e: Engine): void {
  for (let k = 0; k < 1000 && !Number.isNaN(e.nextEventTime); k++) e.advance(e.nextEventTime);
}

test('received KV: every full prompt block but the one holding the last token is cached; the first step computes only the rest', () => {
  const finished: Sequence[] = [];
  const e = new Engine(engineConfig({ blockSize: 4 }), linearCost, { firstToken: () => undefined, finished: (s) => finished.push(s) });
  // 10 tokens = blocks of 4, 4, 2: a prefix hit covers at most floor(9 / 4) = 2 blocks = 8 tokens.
  const r = req('a', 10);
  assert.equal(locallyCachedTokens(e, r), 0);
  assert.equal(injectReceivedKv(e, r), 8);
  assert.equal(locallyCachedTokens(e, r), 8);
  assert.equal(e.pool.free, 100, 'received blocks sit in the cache, free to reuse');
  const seq = e.add(r, 0);
  assert.equal(seq.cachedTokens, 8);
  // First step: 2 uncached prompt tokens -> 10 ms + 2 ms, and it yields the first token.
  assert.ok(Math.abs(e.nextEventTime - 0.012) < 1e-12, String(e.nextEventTime));
  run(e);
  assert.equal(finished.length, 1);
  assert.equal(finished[0].numOutput, 3);
  // A second injection of the same prompt places nothing new.
  assert.equal(injectReceivedKv(e, r), 0);
});

test('received KV: a full pool takes what fits (the rest is recomputed); caching off takes nothing', () => {
  const e = new Engine(engineConfig({ blockSize: 4, numGpuBlocks: 6 }), linearCost, { firstToken: () => undefined, finished: () => undefined });
  // A running request pins 4 blocks; 2 are free for 5 coverable blocks of a 21-token prompt.
  e.add(req('busy', 13, 3, 2), 0);
  assert.equal(e.pool.free, 2);
  assert.equal(injectReceivedKv(e, req('b', 21)), 8);
  const off = new Engine(engineConfig({ enablePrefixCaching: false }), linearCost, { firstToken: () => undefined, finished: () => undefined });
  assert.equal(injectReceivedKv(off, req('c', 21)), 0);
});
