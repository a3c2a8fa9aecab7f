import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type Sequence } from '../../src/engine/engine.js';
import type { Request } from '../../src/workload/request.js';
import { engineConfig, linearCost } from '../helpers/fixtures.js';

function run(engine: Engine, until = Infinity): void {
  let t: number;
  while (!Number.isNaN((t = engine.nextEventTime)) && t <= until) engine.advance(t);
}

function recorder(): { first: Map<string, number>; done: Map<string, Sequence>; listener: ConstructorParameters<typeof Engine>[2] } {
  const first = new Map<string, number>();
  const done = new Map<string, Sequence>();
  return {
    first,
    done,
    listener: {
      firstToken: (s, t) => first.set(s.req.id, t),
      finished: (s) => done.set(s.req.id, s),
    },
  };
}

const tokens = (n: number, offset = 0): number[] => Array.from({ length: n }, (_, i) => i + offset);
const req = (id: string, input: number, output: number, ids?: number[], arrivalS = 0): Request => ({
  id,
  arrivalS,
  inputTokens: input,
  outputTokens: output,
  prefix: ids ? { kind: 'tokens', ids } : undefined,
});

test('one request: prefill step then one decode step per token (hand-computed times)', () => {
  const r = recorder();
  const e = new Engine(engineConfig(), linearCost, r.listener);
  e.add(req('a', 10, 3), 0);
  run(e);
  // prefill 10 tokens: 10 ms + 10 ms; then two decode steps of 11 ms each.
  assert.ok(Math.abs((r.first.get('a') ?? NaN) - 0.02) < 1e-12);
  const a = r.done.get('a') as Sequence;
  assert.ok(Math.abs(a.finishedAt - 0.042) < 1e-12);
  assert.equal(a.numOutput, 3);
  assert.equal(a.firstScheduledAt, 0);
  assert.equal(e.pool.used, 0);
});

test('chunked prefill splits a long prompt by the token budget', () => {
  const r = recorder();
  const e = new Engine(engineConfig({ maxNumBatchedTokens: 64 }), linearCost, r.listener);
  e.add(req('a', 100, 1), 0);
  run(e);
  // 64 tokens (74 ms) then 36 tokens (46 ms): the first token comes at 120 ms and ends the request.
  assert.ok(Math.abs((r.first.get('a') ?? NaN) - 0.12) < 1e-12);
  assert.equal(e.counters.steps, 2);
  assert.equal(e.counters.promptTokens, 100);
});

test('a repeated prompt hits the prefix cache, leaving at least one token to compute', () => {
  const r = recorder();
  const e = new Engine(engineConfig(), linearCost, r.listener);
  e.add(req('a', 10, 2, tokens(10)), 0);
  run(e);
  e.add(req('b', 10, 2, tokens(10)), 1);
  run(e);
  const b = r.done.get('b') as Sequence;
  // floor((10 - 1) / 4) = 2 full blocks = 8 tokens cached; prefill computes 2 tokens: 12 ms.
  assert.equal(b.cachedTokens, 8);
  assert.ok(Math.abs((r.first.get('b') ?? NaN) - 1.012) < 1e-12);
  assert.equal(e.counters.prefixHits, 8);
  assert.equal(e.counters.prefixQueries, 20);
  // A different prompt sharing only the first block hits one block.
  e.add(req('c', 10, 2, [...tokens(4), ...tokens(6, 100)]), 2);
  run(e);
  assert.equal((r.done.get('c') as Sequence).cachedTokens, 4);
});

test('requests whose prompt plus output cannot fit are refused by fits()', () => {
  const e = new Engine(engineConfig({ numGpuBlocks: 5 }), linearCost, recorder().listener);
  assert.equal(e.fits(req('a', 16, 4)), true);
  assert.equal(e.fits(req('a', 16, 5)), false);
});

test('preemption by recompute when blocks run out; every request still finishes once', () => {
  const r = recorder();
  // 7 blocks of 4 tokens; two requests of 8 + 10 tokens need 5 blocks each at the end.
  const e = new Engine(engineConfig({ numGpuBlocks: 7 }), linearCost, r.listener);
  e.add(req('a', 8, 10, tokens(8)), 0);
  e.add(req('b', 8, 10, tokens(8, 50)), 0);
  run(e);
  assert.equal(r.done.size, 2);
  const a = r.done.get('a') as Sequence;
  const b = r.done.get('b') as Sequence;
  assert.equal(a.preemptions, 0);
  assert.ok(b.preemptions >= 1, 'the later request is preempted');
  assert.equal(a.numOutput, 10);
  assert.equal(b.numOutput, 10);
  assert.equal(e.counters.generationTokens, 20);
  assert.equal(e.pool.used, 0);
  // b's recompute after preemption finds its own blocks still cached.
  assert.ok(e.counters.prefixHits > 0);
});

test('max_num_seqs bounds the running set', () => {
  const r = recorder();
  const e = new Engine(engineConfig({ maxNumSeqs: 2 }), linearCost, r.listener);
  for (let i = 0; i < 5; i++) e.add(req(`r${i}`, 4, 3), 0);
  e.advance(e.nextEventTime); // the first step had started with r0 alone
  assert.equal(e.numRunning, 2);
  assert.equal(e.numWaiting, 3);
  run(e);
  assert.equal(r.done.size, 5);
});

test('reserve_full_prompt admits a prompt only if all of it fits', () => {
  for (const reserve of [true, false]) {
    const e = new Engine(engineConfig({ numGpuBlocks: 10, maxNumBatchedTokens: 8, reserveFullPrompt: reserve }), linearCost, recorder().listener);
    e.add(req('a', 8, 20), 0); // prefill 8 tokens = 2 blocks
    e.add(req('b', 32, 2), 0); // 8 blocks in all; waits for the next step
    e.advance(e.nextEventTime);
    // Next step: a decodes (3rd block, 7 free); b gets a 7-token chunk (2 blocks) but would need 8 in all.
    assert.equal(e.numRunning, reserve ? 1 : 2, `reserve=${reserve}`);
  }
});

test('an arrival exactly at a decode stretch\'s end cuts nothing: the stretch ends whole and the arrival joins the next step', () => {
  // Every step costs 0.25 s (exact in binary), so an arrival can land exactly on a step end.
  const quarter = { seconds: (): number => 0.25, decodeSeconds: (): number => 0.25 };
  const r = recorder();
  const e = new Engine(engineConfig(), quarter, r.listener);
  e.add(req('a', 4, 20), 0);
  // Prefill ends at 0.25 (token 1); one stretch of 19 decode steps follows, ending at 5.0 with token 20.
  let t: number;
  while (!Number.isNaN((t = e.nextEventTime)) && t < 5) e.advance(t);
  assert.equal(e.nextEventTime, 5);
  // The simulator takes an arrival before a step end at the same time.
  e.add(req('b', 4, 2), 5);
  assert.equal(e.nextEventTime, 5);
  run(e);
  assert.equal(r.done.get('a')?.finishedAt, 5);
  assert.equal(r.done.get('a')?.numOutput, 20);
  // b is prefilled in the step after a's stretch (5.0 → 5.25) and decodes its second token by 5.5.
  assert.equal(r.first.get('b'), 5.25);
  assert.equal(r.done.get('b')?.finishedAt, 5.5);
});
