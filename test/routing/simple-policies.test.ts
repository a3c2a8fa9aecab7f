import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy } from '../../src/routing/registry.js';
import type { Policy, PolicyContext, WorkerView } from '../../src/routing/types.js';
import type { Request } from '../../src/workload/request.js';
import { ctx, scraped, textReq, workers } from './helpers.js';

function pickMany(p: Policy, req: () => Request, ws: readonly WorkerView[], c: PolicyContext, n: number): number[] {
  return Array.from({ length: n }, () => p.pick(req(), ws, c)!.worker);
}

function counts(picks: number[], n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const p of picks) out[p]++;
  return out;
}

test('random: every pick is a candidate and all candidates get picked', () => {
  const ws = workers(4);
  const c = counts(pickMany(createPolicy('random'), () => textReq('a'), ws, ctx(), 400), 4);
  for (const x of c) assert.ok(x > 60 && x < 140, `counts ${c.join(',')}`);
  const sub = [ws[1], ws[3]];
  for (const p of pickMany(createPolicy('random'), () => textReq('a'), sub, ctx(), 50)) assert.ok(p === 1 || p === 3);
});

test('round-robin: in turn over the current candidate list', () => {
  const ws = workers(3);
  const p = createPolicy('round-robin');
  assert.deepEqual(pickMany(p, () => textReq('a'), ws, ctx(), 4), [0, 1, 2, 0]);
  assert.deepEqual(pickMany(p, () => textReq('a'), [ws[0], ws[2]], ctx(), 3), [2, 0, 2]);
});

test('least-request: the fewest in flight; ties random', () => {
  const ws = workers(3);
  ws[0].inFlight = 2;
  ws[1].inFlight = 1;
  ws[2].inFlight = 1;
  const c = counts(pickMany(createPolicy('least-request'), () => textReq('a'), ws, ctx(), 200), 3);
  assert.equal(c[0], 0);
  assert.ok(c[1] > 60 && c[2] > 60, `counts ${c.join(',')}`);
});

test('least-tokens: prompt tokens + in-flight × expected output, the estimate learned from completions', () => {
  const ws = workers(2);
  // prior 256: A = 600 + 1×256 = 856, B = 0 + 3×256 = 768 → B
  ws[0].inFlight = 1;
  ws[0].inFlightPromptTokens = 600;
  ws[1].inFlight = 3;
  const p = createPolicy('least-tokens', { output_ewma: '1' });
  const c = ctx();
  assert.equal(p.pick(textReq('a'), ws, c)!.worker, 1);
  // a completion with 1000 output tokens: A = 1600, B = 3000 → A
  p.onComplete!(textReq('a'), ws[0], { ok: true, outputTokens: 1000 }, c);
  assert.equal(p.pick(textReq('a'), ws, c)!.worker, 0);
  // output_ewma=0 keeps the prior
  const fixed = createPolicy('least-tokens', { output_ewma: '0' });
  fixed.onComplete!(textReq('a'), ws[0], { ok: true, outputTokens: 1000 }, c);
  assert.equal(fixed.pick(textReq('a'), ws, c)!.worker, 1);
});

test('power-of-two: of the two drawn, the less loaded', () => {
  const ws = workers(2);
  ws[0].inFlight = 5;
  for (const w of pickMany(createPolicy('power-of-two'), () => textReq('a'), ws, ctx(), 20)) assert.equal(w, 1);
  const three = workers(3);
  three[2].inFlight = 9;
  const c = counts(pickMany(createPolicy('power-of-two'), () => textReq('a'), three, ctx(), 300), 3);
  assert.equal(c[2], 0); // the busiest never wins a pair
});

test('least-kv-cache: lowest scraped usage; an unscraped worker counts as empty', () => {
  const ws = workers(3);
  ws[0].scraped = scraped({ kvUsage: 0.5 });
  ws[1].scraped = scraped({ kvUsage: 0.2 });
  ws[2].scraped = scraped({ kvUsage: 0.9 });
  const p = createPolicy('least-kv-cache');
  assert.equal(p.pick(textReq('a'), ws, ctx())!.worker, 1);
  ws[2].scraped = undefined;
  assert.equal(p.pick(textReq('a'), ws, ctx())!.worker, 2);
});

test('least-latency: queue + prefill + decode from router-observed latencies, hand-checked', () => {
  const ws = workers(2);
  const p = createPolicy('least-latency', { ewma: '1' });
  const c = ctx();
  // nothing observed: fewest requests waiting for a first token
  ws[0].inPrefill = 1;
  assert.equal(p.pick(textReq('a'), ws, c)!.worker, 1);
  ws[0].inPrefill = 0;
  const r = textReq('x'.repeat(400), { inputTokens: 100 });
  ws[0].inPrefill = 1; // the Router counted r before onDispatch: nothing ahead of it
  p.onDispatch!(r, ws[0], c);
  ws[0].inPrefill = 0;
  p.onComplete!(r, ws[0], { ok: true, outputTokens: 101, ttftS: 0.5, e2eS: 2.5 }, c);
  // worker 0: prefill 0.005 s/token × 100 = 0.5, decode 0.02 × 100 = 2 → 2.5; worker 1 borrows
  // the fleet mean (2.5) plus one request ahead (0.5) → 3
  ws[1].inPrefill = 1;
  assert.equal(p.pick(r, ws, c)!.worker, 0);
  // worker 1 learns prefill 0.2 s, decode 0.04 s/token: idle, 0.2 + 4 = 4.2
  ws[1].inPrefill = 1;
  const r1 = textReq('y'.repeat(400), { inputTokens: 100 });
  p.onDispatch!(r1, ws[1], c);
  ws[1].inPrefill = 0;
  p.onComplete!(r1, ws[1], { ok: true, outputTokens: 101, ttftS: 0.2, e2eS: 4.2 }, c);
  // guesses stay 100/100; worker 0 with 3 waiting: 3 × 0.5 + 0.5 + 2 = 4.0 < 4.2
  ws[0].inPrefill = 3;
  assert.equal(p.pick(r, ws, c)!.worker, 0);
  // with 4 waiting: 2 + 0.5 + 2 = 4.5 > 4.2
  ws[0].inPrefill = 4;
  assert.equal(p.pick(r, ws, c)!.worker, 1);
});
