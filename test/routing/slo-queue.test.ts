import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistogramPredictor } from '../../src/routing/predictor/histogram.js';
import { OraclePredictor } from '../../src/routing/predictor/oracle.js';
import { subQueueKey } from '../../src/routing/slo/queue.js';
import { createPolicy } from '../../src/routing/registry.js';
import type { SloPolicy } from '../../src/routing/policies/slo.js';
import type { Rng } from '../../src/util/rng.js';
import { createRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';
import { Harness, handProfile, req, view } from './slo-harness.js';

const oracle = { predictor: 'oracle' };

test('sub-queue key is [round(log2 out), round(log2 in)]', () => {
  assert.equal(subQueueKey(16, 300), '4,8');
  assert.equal(subQueueKey(23, 362), '5,8'); // log2 23 = 4.52, log2 362 = 8.4996
  assert.equal(subQueueKey(0, 1), '0,0');
});

test('least slack goes first, not the oldest: a waiting long request beats an older short one', () => {
  const h = new Harness([view(0, 'gpu', handProfile('gpu'))], 'slo', oracle);
  const f1 = req('f1', 2048, 256);
  const f2 = req('f2', 2048, 256);
  h.at(0).router.submit(f1); // consumption 0.5
  h.router.submit(f2); // 0.5: the worker is now at capacity 1.0
  const x = req('x', 128, 16, 1); // rank at t=3: (3-1) + 0.5 - 20 = -17.5
  const y = req('y', 2048, 256, 2); // rank at t=3: (3-2) + 8 - 20 = -11 (less slack)
  h.at(1).router.submit(x);
  h.at(2).router.submit(y);
  assert.deepEqual(h.order(), ['f1', 'f2']);
  assert.equal(h.router.queuedTotal, 2);
  h.at(3).complete(f1); // frees 0.5: y (0.5) goes; x (0.2) no longer fits
  assert.deepEqual(h.order(), ['f1', 'f2', 'y']);
  h.at(4).complete(f2);
  assert.deepEqual(h.order(), ['f1', 'f2', 'y', 'x']);
  assert.equal(h.router.queuedTotal, 0);
  assert.equal((h.policy as SloPolicy).utilisation(0), 0.5 + 0.2);
});

test('a later request of the same shape waits behind its sub-queue head (FIFO within a bucket)', () => {
  const h = new Harness([view(0, 'gpu', handProfile('gpu'))], 'slo', oracle);
  const a = req('a', 2048, 256);
  h.router.submit(a);
  h.router.submit(req('b', 2048, 256));
  h.router.submit(req('c', 2000, 250)); // same bucket (8, 11) as b
  h.router.submit(req('d', 128, 16)); // 0.2 does not fit beside a + b (1.0)
  assert.deepEqual(h.order(), ['a', 'b']);
  h.at(1).complete(a); // 0.5 free: head of (8,11) is c (0.5) -> goes; d still waits
  assert.deepEqual(h.order(), ['a', 'b', 'c']);
});

test('most relaxed GPU type first; a stricter type is used only while its rank is <= 0', () => {
  // "fast" has 1 s less E2E everywhere, so its rank is lower: requests go there first.
  const fast = handProfile('fast', { e2e: [[0.25, 1], [3, 7]], tputs: [[20, 2], [1 / 0.75, 1 / 3.5]] });
  const slow = handProfile('slow', { slos: { percentile: 99, e2e: 7.5 } });
  const h = new Harness([view(0, 'slow', slow), view(1, 'fast', fast)], 'slo', oracle);
  // fast (256,2048): consumption 1/((1/3.5)·7) = 0.5; rank on fast 7 − 20 = −13, on slow 8 − 7.5 = +0.5.
  for (const id of ['a', 'b']) h.router.submit(req(id, 2048, 256));
  assert.deepEqual(h.dispatched.map((d) => d.worker), [1, 1]);
  // fast is full; slow's rank is positive, so the request waits instead of going to slow.
  h.router.submit(req('c', 2048, 256));
  assert.equal(h.router.queuedTotal, 1);
  // A short request ranks −19.75 on fast, −7 on slow (0.5 − 7.5): fast is full, slow is allowed.
  h.router.submit(req('d', 128, 16));
  assert.deepEqual(h.dispatched.map((d) => `${d.id}@${d.worker}`), ['a@1', 'b@1', 'd@0']);
});

test('pack-load fills the fullest worker that fits; least-load the emptiest; slo-least-load never queues', () => {
  const t = handProfile('gpu');
  const mk = (policy: string): Harness => new Harness([view(0, 'gpu', t), view(1, 'gpu', t)], policy, oracle);
  for (const [policy, expected] of [['slo', [0, 1, 0, 1]], ['slo-pack-load', [0, 0, 0, 0]]] as const) {
    const h = mk(policy);
    // Four 0.2 requests; the first tie is broken at random, so compare relative placement.
    for (const id of ['a', 'b', 'c', 'd']) h.router.submit(req(id, 128, 16));
    const first = h.dispatched[0].worker;
    assert.deepEqual(h.dispatched.map((d) => (d.worker === first ? 0 : 1)), expected, policy);
  }
  const push = mk('slo-least-load');
  for (let i = 0; i < 6; i++) push.router.submit(req(`p${i}`, 2048, 256)); // 6 × 0.5 = 3.0 on 2 workers
  assert.equal(push.dispatched.length, 6);
  assert.equal(push.router.queuedTotal, 0);
  const pull = mk('slo');
  for (let i = 0; i < 6; i++) pull.router.submit(req(`p${i}`, 2048, 256));
  assert.equal(pull.dispatched.length, 4);
  assert.equal(pull.router.queuedTotal, 2);
});

test('a cell that met the SLO at no rate on every GPU type is served best-effort, or rejected with 429 (unattainable=reject); on one type it is skipped', () => {
  const zero = handProfile('zero', { tputs: [[10, 1], [1, 0]] });
  const h = new Harness([view(0, 'zero', zero)], 'slo', { ...oracle, unattainable: 'reject' });
  h.router.submit(req('z', 2048, 256));
  assert.equal(h.rejected.length, 1);
  assert.equal(h.rejected[0].status, 429);
  assert.match(h.rejected[0].reason, /SLO unattainable: the profile cell for ~256 output and 2048 input tokens met the SLO at no rate on zero/);
  // By default (unattainable=fallback) it is served best-effort by the fallback policy instead.
  const h3 = new Harness([view(0, 'zero', zero)], 'slo', oracle);
  h3.router.submit(req('z', 2048, 256));
  assert.deepEqual([h3.dispatched.length, h3.rejected.length], [1, 0]);
  assert.equal(h3.router.branches.get('slo-fallback'), 1);
  // Beside a type that can serve it, the request goes there even though "zero" ranks better.
  const other = handProfile('other', { e2e: [[0.5, 2], [4, 9]], tputs: [[10, 1], [1, 1 / 9]] });
  const h2 = new Harness([view(0, 'zero', zero), view(1, 'other', other)], 'slo', oracle);
  h2.router.submit(req('z', 2048, 256));
  assert.deepEqual(h2.dispatched.map((d) => d.worker), [1]);
});

test('a cell that holds less than one request in flight charges a whole worker, not more', () => {
  const heavy = handProfile('gpu', { tputs: [[10, 1], [1, 0.1]] }); // (256,2048): tput·e2e = 0.1·8 = 0.8 < 1
  const h = new Harness([view(0, 'gpu', heavy)], 'slo', oracle);
  h.router.submit(req('a', 2048, 256));
  h.router.submit(req('b', 128, 16));
  assert.deepEqual(h.order(), ['a']);
  assert.equal((h.policy as SloPolicy).utilisation(0), 1);
  h.complete(req('a', 2048, 256));
  assert.deepEqual(h.order(), ['a', 'b']);
  assert.equal((h.policy as SloPolicy).utilisation(0), 0.2);
});

test('no profile: the fallback (least-request) routes everything and nothing waits', () => {
  const h = new Harness([view(0, 'a'), view(1, 'a')], 'slo');
  for (let i = 0; i < 10; i++) h.router.submit(req(`r${i}`, 100, 10));
  assert.equal(h.dispatched.length, 10);
  assert.deepEqual([0, 1].map((w) => h.dispatched.filter((d) => d.worker === w).length), [5, 5]);
  assert.throws(() => createPolicy('slo', { fallback: 'nope' }), /--policy-opt fallback=nope \(policy slo\): unknown policy/);
  assert.throws(() => createPolicy('slo', { fallback: 'slo-pack-load' }), /must be a push policy/);
  assert.throws(() => createPolicy('slo', { predictor: 'magic' }), /expected histogram or oracle/);
});

test('queue bound and timeout end requests with 429; nextDeadline/onTimer drive the timeout', () => {
  const t = handProfile('gpu');
  const h = new Harness([view(0, 'gpu', t)], 'slo', { ...oracle, queue_max: '2', queue_timeout_s: '5' });
  const a = req('a', 2048, 256);
  h.router.submit(a);
  h.router.submit(req('b', 2048, 256));
  assert.equal(h.router.nextDeadline(), Infinity);
  h.at(1).router.submit(req('c', 2048, 256));
  h.at(2).router.submit(req('d', 2048, 256));
  h.at(2).router.submit(req('e', 2048, 256)); // the queue already holds 2
  assert.deepEqual(h.rejected.map((r) => [r.id, r.status]), [['e', 429]]);
  assert.match(h.rejected[0].reason, /router queue full: 2 requests already waiting/);
  assert.equal(h.router.nextDeadline(), 6);
  h.at(5.9).router.onTimer(5.9);
  assert.equal(h.rejected.length, 1);
  h.at(6).router.onTimer(6);
  assert.deepEqual(h.rejected.map((r) => r.id), ['e', 'c']);
  assert.match(h.rejected[1].reason, /router queue timeout: waited 5\.000 s \(limit 5 s\)/);
  assert.equal(h.router.nextDeadline(), 7);
  h.at(6.5).complete(a);
  assert.deepEqual(h.order(), ['a', 'b', 'd']);
  assert.equal(h.router.nextDeadline(), Infinity);
});

test('histogram predictor: samples the prompt bucket row by count, 240 s window, cold prediction', () => {
  const p = new HistogramPredictor();
  const fixed = (x: number): Rng => ({ next: () => x, int: (n) => Math.floor(x * n) });
  assert.equal(p.predict(req('q', 300, 0), 0, fixed(0.5)), undefined, 'cold: the policy applies its cold prediction');
  for (let i = 0; i < 3; i++) p.observe(300, 16, 10);
  p.observe(280, 100, 20); // same input bucket (round(log2 280) = 8); output bucket round(6.64) = 7
  assert.deepEqual([...p.row(300, 20)].map((c, b) => [b, c]).filter(([, c]) => c > 0), [[4, 3], [7, 1]]);
  assert.equal(p.predict(req('q', 300, 0), 20, fixed(0.5)), 16); // 0.5·4 = 2 < 3
  assert.equal(p.predict(req('q', 300, 0), 20, fixed(0.9)), 128); // 3.6 ≥ 3
  assert.equal(p.predict(req('q', 5000, 0), 20, fixed(0.5)), undefined, 'another input bucket is still cold');
  // Slot of t=10 (epoch 1) expires once epoch 1 + 24 is reached; t=20 (epoch 2) one slot later.
  assert.equal(p.predict(req('q', 300, 0), 250, fixed(0.1)), 128);
  assert.equal(p.predict(req('q', 300, 0), 260, fixed(0.1)), undefined);
  assert.equal(new OraclePredictor().predict(req('q', 300, 77)), 77);
  assert.throws(() => new OraclePredictor().predict({ id: 'live', arrivalS: 0, inputTokens: 3 }), /simulation only/);
});

test('a cold prediction never rejects: it is served through the fallback until the predictor knows the prompt size', () => {
  const zero = handProfile('gpu', { tputs: [[0, 1], [1, 1]] }); // (16,128) met the SLO at no rate
  const h = new Harness([view(0, 'gpu', zero)], 'slo', { unattainable: 'reject' }); // histogram predictor, cold prediction 1 -> row 16
  const a = req('a', 128, 16);
  h.router.submit(a);
  assert.deepEqual([h.order(), h.rejected.length], [['a'], 0]);
  assert.equal(h.router.branches.get('slo-fallback'), 1);
  h.at(1).complete(a); // the histogram now predicts 16 for 128-token prompts
  h.router.submit(req('b', 128, 16));
  assert.equal(h.rejected.length, 1);
  assert.match(h.rejected[0].reason, /SLO unattainable/);
});

test('prefix-aware capacity: a long prompt whose prefix a worker holds is looked up (and charged) by its uncached tokens', () => {
  // Outputs [16, 256] x inputs [128, 2048]; (16, 2048) met the SLO at no rate, (16, 128) costs 0.2.
  const t = handProfile('gpu', { tputs: [[10, 0], [1, 0.25]] });
  const w = [view(0, 'gpu', t), view(1, 'gpu', t)].map((v) => ({ ...v, blockSize: 16, kvCapacityTokens: 1 << 20 }));
  const h = new Harness(w, 'slo', { ...oracle, unattainable: 'reject' });
  const ids = (n: number, tail: number): number[] => [...Array.from({ length: 1984 }, (_, i) => i + 1), ...Array.from({ length: n - 1984 }, (_, i) => tail + i)];
  const prompt = (id: string, tail: number): Request => ({ ...req(id, 2048, 16), prefix: { kind: 'tokens', ids: ids(2048, tail) } });
  // Nothing cached anywhere: the whole 2048-token prompt is computed, an unattainable cell.
  h.router.submit(prompt('cold', 100_000));
  assert.equal(h.rejected.length, 1);
  // A worker that was sent the 1984-token prefix computes 64 tokens of the next prompt: cell (16, 128).
  const warm = { ...req('warm', 1984, 16), prefix: { kind: 'tokens' as const, ids: ids(1984, 0) } };
  (h.policy as SloPolicy).onDispatch?.(warm, w[1], { clock: h.clock, rng: createRng(1) });
  h.router.submit(prompt('hit', 200_000));
  assert.deepEqual(h.dispatched.map((d) => [d.id, d.worker]), [['hit', 1]]);
  assert.equal((h.policy as SloPolicy).utilisation(1), 0.2);
});

test('a request whose cell holds a whole worker takes the least-loaded one instead of waiting for an idle one', () => {
  // (16,2048): 0.25 req/s × 2 s = 0.5 in flight at the SLO rate, so it is charged a whole worker (1).
  const t = handProfile('gpu', { tputs: [[10, 0.25], [1, 0.25]] });
  const h = new Harness([view(0, 'gpu', t), view(1, 'gpu', t)], 'slo', oracle);
  h.router.submit(req('a', 128, 16)); // 0.2 on one worker
  h.router.submit(req('b', 128, 16)); // 0.2 on the other
  h.router.submit(req('c', 128, 16)); // 0.2 beside one of them: 0.4 there
  const heavier = h.dispatched[2].worker;
  h.router.submit(req('w', 2048, 16));
  assert.equal(h.router.queuedTotal, 0, 'no worker is ever idle again, so waiting cannot help');
  assert.equal(h.dispatched[3].worker, 1 - heavier, 'the least-loaded worker');
  // It is charged the whole worker: a 0.2 request no longer fits there, and waits for the other.
  const p = h.policy as SloPolicy;
  assert.equal(p.utilisation(1 - heavier), 1.2);
  h.router.submit(req('d', 128, 16));
  assert.equal(h.dispatched[4].worker, heavier);
});
