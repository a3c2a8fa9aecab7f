import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/routing/admission/token-bucket.js';
import { TenantQuotas } from '../../src/routing/admission/quotas.js';
import { parseAdmissionConfig, type AdmissionConfig } from '../../src/routing/admission/config.js';
import { Admission } from '../../src/routing/admission/admission.js';
import { Router } from '../../src/routing/router.js';
import { createPolicy } from '../../src/routing/registry.js';
import type { WorkerInit } from '../../src/routing/worker-registry.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import { UserError } from '../../src/util/errors.js';
import type { Request } from '../../src/workload/request.js';

test('token bucket: hand-computed takes, waits, refill cap and debt', () => {
  const b = new TokenBucket(2, 4, 0); // 2 tokens/s, burst 4, full at t=0
  for (let i = 0; i < 4; i++) assert.equal(b.take(1, 0), 0);
  assert.equal(b.take(1, 0), 0.5, 'empty: one token in 1/2 s');
  assert.equal(b.level(0), 0, 'a refused take takes nothing');
  assert.equal(b.take(1, 0.25), 0.25, 'half a token there at 0.25 s');
  assert.equal(b.take(1, 0.5), 0);
  assert.equal(b.level(100), 4, 'refill stops at the burst');
  assert.equal(b.take(5, 100), Infinity, 'more than the burst never fits');
  assert.equal(b.level(100), 4);
  b.charge(6, 100); // usage known afterwards: 4 − 6 = −2
  assert.equal(b.level(100), -2);
  assert.equal(b.waitFor(1, 100), 1.5, 'the debt is waited out first: (1 − (−2)) / 2');
  assert.equal(b.take(1, 101.5), 0);
  assert.equal(b.level(101.5), 0);
});

test('token bucket: over any window, admitted ≤ burst + rate × window', () => {
  const rng = createRng(7);
  const rate = 3;
  const burst = 5;
  const b = new TokenBucket(rate, burst, 0);
  const admitted: number[] = [];
  let t = 0;
  for (let i = 0; i < 5000; i++) {
    t += rng.next() * 0.2; // ~10 tries/s against 3/s
    if (b.take(1, t) === 0) admitted.push(t);
  }
  for (let i = 0; i < admitted.length; i += 7) {
    for (let j = i; j < admitted.length; j += 13) {
      const window = admitted[j] - admitted[i];
      assert.ok(j - i + 1 <= burst + rate * window + 1e-9, `${j - i + 1} admitted in ${window} s`);
    }
  }
  // Long-run rate is the bucket's rate.
  assert.ok(Math.abs(admitted.length / t - rate) < 0.05 * rate, `${admitted.length / t}/s`);
});

const tenantsDoc = (extra: Record<string, unknown> = {}): AdmissionConfig =>
  parseAdmissionConfig(
    {
      tenants: {
        acme: { keys: ['k-acme'], requests_per_s: 1, burst_requests: 2, tokens_per_min: 600, burst_tokens: 100 },
        free: { keys: ['k-free'], priority: 'sheddable' },
      },
      ...extra,
    },
    't.yaml',
  );

test('tenant quotas: requests/s then tokens/min, refusals name the quota and cost nothing', () => {
  const q = new TenantQuotas(tenantsDoc().tenants, 0);
  assert.equal(q.admit('acme', 40, 0), null);
  assert.equal(q.admit('acme', 40, 0), null); // burst 2 requests, 80 of 100 tokens
  const r = q.admit('acme', 10, 0);
  assert.equal(r?.quota, 'requests_per_s');
  assert.equal(r?.retryAfterS, 1);
  assert.match(r?.message ?? '', /requests_per_s quota \(1 requests\/s, burst 2\)/);
  // At t=1: one request back; tokens 20 + 10 (600/min = 10/s) = 30 < 40.
  const t = q.admit('acme', 40, 1);
  assert.equal(t?.quota, 'tokens_per_min');
  assert.equal(t?.retryAfterS, 1, '(40 − 30) / 10 tokens/s');
  assert.equal(q.admit('acme', 40, 2), null, 'the token refusal did not spend the request token');
  q.settle('acme', 50, 2); // 0 − 50 tokens: in debt
  const d = q.admit('acme', 1, 3);
  assert.equal(d?.quota, 'tokens_per_min');
  assert.equal(d?.retryAfterS, 4.1, '(1 − (−50 + 10)) / 10');
  assert.equal(q.admit('acme', 200, 100)?.retryAfterS, Infinity, 'a prompt over the burst never fits');
  assert.equal(q.admit('free', 1e9, 0), null, 'no limits configured');
  assert.equal(q.admit('nobody', 1e9, 0), null, 'unknown tenants are not limited');
  assert.equal(q.admit(undefined, 1e9, 0), null);
});

test('tenants config: one-line errors naming the field', () => {
  const bad: [unknown, RegExp][] = [
    [{ tenants: { a: { rps: 1 } } }, /t\.yaml: tenants\.a: unknown field "rps"/],
    [{ tenants: { a: { requests_per_s: 0 } } }, /tenants\.a\.requests_per_s: expected a number > 0, got 0/],
    [{ tenants: { a: { keys: ['x'] }, b: { keys: ['x'] } } }, /tenants\.b\.keys\[0\]: the key is already tenant a's/],
    [{ tenants: { a: { priority: 'gold' } } }, /tenants\.a\.priority: "gold" is not a class \(expected one of critical, standard, sheddable\)/],
    [{ tenants: { a: { priority: 'critical', max_priority: 'standard' } } }, /priority: "critical" is above max_priority "standard"/],
    [{ priorities: { classes: [{ name: 'a', reserved: 0.6 }, { name: 'b', reserved: 0.5 }], max_in_flight: 4 } }, /classes\[1\]\.reserved: the reserved shares add up to 1\.1/],
    [{ priorities: { classes: [{ name: 'a', reserved: 0.5 }, 'b'] } }, /"reserved" is a share of priorities\.max_in_flight, which is not given/],
    [{ priorities: { dequeue: 'fair' } }, /priorities\.dequeue: expected strict, weighted or fifo, got "fair"/],
    [{ priorities: { default: 'gold' } }, /priorities\.default: "gold" is not a class/],
    [{ priorities: { classes: ['a', 'a'] } }, /classes\[1\]\.name: class "a" is listed twice/],
    [{ tenant: {} }, /top level: unknown field "tenant"/],
    [[], /expected a mapping/],
  ];
  for (const [doc, re] of bad) {
    assert.throws(() => parseAdmissionConfig(doc, 't.yaml'), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'), JSON.stringify(doc));
  }
  const ok = parseAdmissionConfig({ priorities: { classes: ['gold', { name: 'bronze', weight: 2 }], aging_s: 5 } }, 't.yaml');
  assert.equal(ok.priorities.defaultClass, 'bronze', 'without "standard", the lowest class is the default');
  assert.equal(ok.priorities.classes[0].weight, 1);
  assert.equal(ok.priorities.agingS, 5);
  assert.equal(ok.priorities.dequeue, 'strict');
});

test('class of a request: asked, lowered to the tenant max, else the tenant default, else the default', () => {
  const a = new Admission(parseAdmissionConfig({ tenants: { gold: { priority: 'standard', max_priority: 'critical' }, free: { priority: 'sheddable' } } }, 't.yaml'), 0);
  assert.equal(a.priorityFor('gold', 'critical'), 'critical');
  assert.equal(a.priorityFor('gold', undefined), 'standard');
  assert.equal(a.priorityFor('free', 'critical'), 'sheddable', 'max_priority defaults to the tenant priority');
  assert.equal(a.priorityFor(undefined, undefined), 'standard');
  assert.equal(a.priorityFor(undefined, 'critical'), 'critical');
  assert.deepEqual(a.priorityFor('gold', 'vip'), { unknown: 'vip' });
});

// ---- priority classes on the Router's queue ------------------------------------------------

function init(name: string): WorkerInit {
  return { name, url: `http://${name}:8000`, gpu: 'l20', model: 'm', profile: 'm@l20', costUsdPerHour: 1, kvCapacityTokens: 16_000, blockSize: 16 };
}

interface Run {
  r: Router;
  clock: VirtualClock;
  sent: string[];
  rejected: { id: string; status?: number }[];
}

function run(priorities: Record<string, unknown>, workers = 1): Run {
  const clock = new VirtualClock();
  const adm = new Admission(parseAdmissionConfig({ priorities }, 't.yaml'), 0);
  const sent: string[] = [];
  const rejected: { id: string; status?: number }[] = [];
  const r = new Router({
    policy: createPolicy('least-request'),
    workers: Array.from({ length: workers }, (_, i) => init(`w${i}`)),
    clock,
    rng: createRng(1),
    sink: { dispatch: (req) => sent.push(req.id), reject: (req, _why, status) => rejected.push({ id: req.id, status }) },
    classes: adm.classes,
  });
  return { r, clock, sent, rejected };
}

const rq = (id: string, priority?: string): Request => ({ id, arrivalS: 0, inputTokens: 10, outputTokens: 10, priority });
const done = (r: Router, req: Request): void => r.onComplete(req, { ok: true, outputTokens: 1 }, true);

test('strict dequeue: with max_in_flight the router queues a push policy and serves the highest class first', () => {
  const { r, sent } = run({ max_in_flight: 1 });
  assert.equal(r.pullMode, true);
  const reqs = [rq('s1', 'sheddable'), rq('n1'), rq('s2', 'sheddable'), rq('c1', 'critical'), rq('n2', 'standard')];
  for (const q of reqs) r.submit(q);
  assert.deepEqual(sent, ['s1']);
  assert.equal(r.queuedTotal, 4);
  for (let i = 0; i < 5; i++) done(r, reqs.find((q) => q.id === sent[i]) as Request);
  assert.deepEqual(sent, ['s1', 'c1', 'n1', 'n2', 's2'], 'critical, then standard (FIFO), then sheddable');
});

test('strict dequeue with aging: a sheddable request that waited 2 × aging_s ranks as critical, and is older', () => {
  const { r, clock, sent } = run({ max_in_flight: 1, aging_s: 5 });
  const busy = rq('busy', 'critical');
  r.submit(busy);
  r.submit(rq('old', 'sheddable')); // queued at t=0
  clock.set(9);
  r.submit(rq('crit', 'critical')); // at t=9 'old' is one class up (standard), below critical
  clock.set(9.5);
  r.submit(rq('std', 'standard'));
  clock.set(10); // now 'old' has waited 10 s = 2 periods: effective rank 0, and it is the oldest head
  done(r, busy);
  assert.deepEqual(sent, ['busy', 'old']);
  done(r, rq('old', 'sheddable'));
  assert.deepEqual(sent, ['busy', 'old', 'crit']);
});

test('weighted dequeue: dispatches follow the weights (4:2:1) while every class has waiters', () => {
  const { r, sent } = run({ max_in_flight: 1, dequeue: 'weighted', classes: [{ name: 'critical', weight: 4 }, { name: 'standard', weight: 2 }, { name: 'sheddable', weight: 1 }] });
  const all: Request[] = [];
  const blocker = rq('b', 'critical');
  r.submit(blocker);
  for (let i = 0; i < 40; i++) for (const c of ['critical', 'standard', 'sheddable']) all.push(rq(`${c}${i}`, c));
  for (const q of all) r.submit(q);
  const byId = new Map(all.map((q) => [q.id, q]));
  done(r, blocker);
  for (let i = 0; i < 35; i++) done(r, byId.get(sent[sent.length - 1]) as Request);
  const first35 = sent.slice(1, 36).map((id) => byId.get(id)?.priority);
  const count = (p: string): number => first35.filter((x) => x === p).length;
  assert.deepEqual([count('critical'), count('standard'), count('sheddable')], [20, 10, 5]);
});

test('reserved capacity: lower classes stop at max_in_flight × (1 − reserved above), the top class uses all', () => {
  const { r, sent } = run({ max_in_flight: 4, classes: [{ name: 'critical', reserved: 0.5 }, { name: 'standard', reserved: 0.25 }, 'sheddable'] }, 2);
  for (let i = 0; i < 4; i++) r.submit(rq(`s${i}`, 'sheddable'));
  assert.deepEqual(sent, ['s0'], 'sheddable: 4 × (1 − 0.75) = 1 in flight');
  r.submit(rq('n0', 'standard'));
  r.submit(rq('n1', 'standard'));
  assert.deepEqual(sent, ['s0', 'n0'], 'standard: 4 × 0.5 = 2 in flight (fleet-wide)');
  for (let i = 0; i < 3; i++) r.submit(rq(`c${i}`, 'critical'));
  assert.deepEqual(sent, ['s0', 'n0', 'c0', 'c1'], 'critical may fill the fleet');
  assert.equal(r.queuedTotal, 5);
});

test('pre-emption: a full queue answers its oldest lowest-class waiter 503; every request ends exactly once', () => {
  const { r, sent, rejected } = run({ max_in_flight: 1, queue_max: 2 });
  const reqs = [rq('busy', 'standard'), rq('s0', 'sheddable'), rq('s1', 'sheddable'), rq('c0', 'critical'), rq('n0', 'standard'), rq('n1', 'standard'), rq('s2', 'sheddable')];
  for (const q of reqs) r.submit(q);
  // busy runs; s0, s1 wait (full); c0 pre-empts s0; n0 pre-empts s1; n1 finds no lower waiter: 429; s2: 429.
  assert.deepEqual(sent, ['busy']);
  assert.deepEqual(rejected, [
    { id: 's0', status: 503 },
    { id: 's1', status: 503 },
    { id: 'n1', status: 429 },
    { id: 's2', status: 429 },
  ]);
  done(r, reqs[0]);
  done(r, reqs[3]);
  done(r, reqs[4]);
  assert.deepEqual(sent, ['busy', 'c0', 'n0']);
  const ended = [...sent, ...rejected.map((x) => x.id)].sort();
  assert.deepEqual(ended, reqs.map((q) => q.id).sort(), 'each request dispatched or rejected, once');
  assert.equal(r.queuedTotal, 0);
});

test('pre-emption off: the arrival is the one refused', () => {
  const { r, rejected } = run({ max_in_flight: 1, queue_max: 1, preempt: false });
  for (const q of [rq('busy'), rq('s0', 'sheddable'), rq('c0', 'critical')]) r.submit(q);
  assert.deepEqual(rejected, [{ id: 'c0', status: 429 }]);
});
