import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type EngineListener, type Sequence } from '../../src/engine/engine.js';
import type { Request } from '../../src/workload/request.js';
import { contextCost, engineConfig, linearCost } from '../helpers/fixtures.js';
import { createRng } from '../../src/util/rng.js';

function run(engine: Engine): void {
  let t: number;
  while (!Number.isNaN((t = engine.nextEventTime))) engine.advance(t);
}

interface Gaps {
  values: number[];
  count: number;
  sum: number;
  done: Sequence[];
  listener: EngineListener;
}

function gaps(): Gaps {
  const g: Gaps = {
    values: [],
    count: 0,
    sum: 0,
    done: [],
    listener: {
      firstToken: () => undefined,
      finished: (s) => g.done.push(s),
      tokenGap: (seconds, count) => {
        for (let i = 0; i < count; i++) g.values.push(Math.round(seconds * 1e9) / 1e6);
        g.count += count;
        g.sum += seconds * count;
      },
    },
  };
  return g;
}

const req = (id: string, input: number, output: number, arrivalS = 0, ids?: number[]): Request => ({
  id,
  arrivalS,
  inputTokens: input,
  outputTokens: output,
  prefix: ids ? { kind: 'tokens', ids } : undefined,
});

test('inter-token gaps are the decode steps each request sat through (hand-computed)', () => {
  for (const fast of [true, false]) {
    const g = gaps();
    const e = new Engine(engineConfig(), linearCost, g.listener, fast);
    e.add(req('a', 10, 4), 0);
    e.add(req('b', 10, 2), 0);
    run(e);
    // a's 10-token prefill is already in flight when b arrives (20 ms: a's first token); then
    // a's decode rides with b's prefill (11 tokens, 21 ms: a's first gap, b's first token); a
    // 2-sequence decode (12 ms) is a gap for each and ends b; a's last step (11 ms) ends a.
    assert.deepEqual(g.values.sort((x, y) => x - y), [11, 12, 12, 21], `fastDecode ${fast}`);
  }
});

test('a preempted request\'s gap spans its wait, as its client sees it', () => {
  const g = gaps();
  // 7 blocks of 4 tokens: the second request is preempted when blocks run out (engine.test.ts).
  const e = new Engine(engineConfig({ numGpuBlocks: 7 }), linearCost, g.listener);
  e.add(req('a', 8, 10, 0, Array.from({ length: 8 }, (_, i) => i)), 0);
  e.add(req('b', 8, 10, 0, Array.from({ length: 8 }, (_, i) => i + 50)), 0);
  run(e);
  const b = g.done.find((s) => s.req.id === 'b') as Sequence;
  assert.ok(b.preemptions >= 1);
  assert.equal(g.count, 18);
  // Longest gap: b's token before preemption to its first after recompute, longer than any step.
  assert.ok(Math.max(...g.values) > 25, `max gap ${Math.max(...g.values)} ms`);
});

test('gaps add up per request (Σ = finish − first token) and match step by step on a random run', () => {
  const rng = createRng(7);
  const rand = (): number => rng.next();
  const reqs: Request[] = [];
  let t = 0;
  for (let i = 0; i < 300; i++) {
    t += rand() * 0.05;
    reqs.push(req(`r${i}`, 1 + Math.floor(rand() * 120), 1 + Math.floor(rand() * 60), t, Array.from({ length: 16 }, (_, k) => (i % 5) * 100 + k)));
  }
  const results = [true, false].map((fast) => {
    const g = gaps();
    const e = new Engine(engineConfig({ numGpuBlocks: 60 }), contextCost, g.listener, fast);
    let next = 0;
    for (;;) {
      const te = e.nextEventTime;
      if (next < reqs.length && (Number.isNaN(te) || reqs[next].arrivalS <= te)) {
        if (e.fits(reqs[next])) e.add(reqs[next], reqs[next].arrivalS);
        next++;
      } else if (!Number.isNaN(te)) e.advance(te);
      else break;
    }
    return g;
  });
  for (const g of results) {
    const expectCount = g.done.reduce((a, s) => a + s.numOutput - 1, 0);
    const expectSum = g.done.reduce((a, s) => a + (s.finishedAt - s.firstTokenAt), 0);
    assert.equal(g.count, expectCount);
    assert.ok(Math.abs(g.sum - expectSum) < 1e-9 * expectSum, `Σ gaps ${g.sum} vs Σ (finish − first) ${expectSum}`);
  }
  assert.ok(results[0].done.some((s) => s.preemptions > 0), 'the run is tight enough to preempt');
  assert.deepEqual(results[0].values.sort((x, y) => x - y), results[1].values.sort((x, y) => x - y));
});
