import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy } from '../../src/routing/registry.js';
import type { Policy, PolicyContext, WorkerView } from '../../src/routing/types.js';
import type { KvCostPolicy } from '../../src/routing/policies/kv-cost.js';
import type { Request } from '../../src/workload/request.js';
import { blockReq, ctx, range, scraped, textReq, workers } from './helpers.js';

/** pick + the router's bookkeeping + onDispatch, as Router.submit does. */
function route(p: Policy, req: Request, ws: WorkerView[], c: PolicyContext): { worker: number; branch?: string } {
  const d = p.pick(req, ws, c)!;
  const w = ws.find((x) => x.index === d.worker)!;
  w.inFlight++;
  w.inFlightPromptTokens += req.inputTokens;
  w.inPrefill++;
  p.onDispatch?.(req, w, c);
  return d;
}

const SYS = 'You are a helpful SQL assistant. Schema: '.padEnd(400, 'x');

test('cache-aware: follows the matched worker above cache_threshold, least-loaded below it', () => {
  const ws = workers(3);
  const p = createPolicy('cache-aware');
  const c = ctx();
  ws[0].inFlight = 1;
  ws[2].inFlight = 1;
  assert.deepEqual(route(p, textReq(`${SYS} q1`), ws, c), { worker: 1, branch: 'cache-miss' });
  // same system prompt, another question: 400+ of ~404 chars match → worker 1 although it is busiest
  assert.deepEqual(route(p, textReq(`${SYS} q2`), ws, c), { worker: 1, branch: 'cache-hit' });
  // a prompt matching 10 of 40 characters (25% < 30%) is a miss → least loaded (0 or 2 at 1 vs 3)
  const d = route(p, textReq(`${SYS.slice(0, 10)}${'z'.repeat(30)}`), ws, c);
  assert.equal(d.branch, 'cache-miss');
  assert.ok(d.worker === 0 || d.worker === 2);
});

test('cache-aware: imbalanced fleet goes to the shortest queue whatever the cache says', () => {
  const ws = workers(2);
  const p = createPolicy('cache-aware', { balance_abs_threshold: '4', balance_rel_threshold: '1.5' });
  const c = ctx();
  route(p, textReq(`${SYS} a`), ws, c); // → some worker
  const home = ws.findIndex((w) => w.inFlight === 1);
  ws[home].inFlight = 6; // 6 − 0 > 4 and 6 > 0 × 1.5
  assert.deepEqual(p.pick(textReq(`${SYS} b`), ws, c), { worker: 1 - home, branch: 'imbalanced' });
  ws[home].inFlight = 4; // 4 − 0 is not > 4 → balanced → cache hit
  assert.deepEqual(p.pick(textReq(`${SYS} b`), ws, c), { worker: home, branch: 'cache-hit' });
});

test('cache-aware: an unhealthy tenant is skipped, and identity keys work without text', () => {
  const ws = workers(3);
  const p = createPolicy('cache-aware');
  const c = ctx();
  const first = route(p, blockReq(range(0, 40)), ws, c).worker;
  assert.equal(route(p, blockReq([...range(0, 38), 900, 901]), ws, c).worker, first);
  const others = ws.filter((w) => w.index !== first);
  assert.equal(p.pick(blockReq(range(0, 40)), others, c)!.branch, 'cache-miss');
});

test('prefix-cache: contiguous match wins; imbalance gate and mean + k·σ cap fall back to least-request', () => {
  const ws = workers(4);
  const p = createPolicy('prefix-cache');
  const c = ctx();
  const first = route(p, blockReq(range(0, 20)), ws, c);
  assert.equal(first.branch, 'prefix-miss');
  const home = first.worker;
  ws[home].inFlight = 0; // the first request finished: all idle, σ = 0, cap 0
  assert.deepEqual(route(p, blockReq([...range(0, 16), 500, 501, 502, 503]), ws, c), { worker: home, branch: 'prefix-hit' });
  // in flight: home 1, others 0 → mean 0.25, sample σ = 0.5 → cap 0.75 < 1: overloaded → least-request
  const d = p.pick(blockReq(range(0, 20)), ws, c)!;
  assert.equal(d.branch, 'overloaded');
  assert.notEqual(d.worker, home);
  // imbalance gate: home 10, others 0 → only the others are candidates → no match among them
  ws[home].inFlight = 10;
  assert.equal(p.pick(blockReq(range(0, 20)), ws, c)!.branch, 'prefix-miss');
  // a prompt shorter than one block has no hash → least-request
  assert.equal(p.pick({ id: 's', arrivalS: 0, inputTokens: 8, prefix: { kind: 'blocks', blockTokens: 16, hashIds: [0] } }, ws, c)!.branch, 'no-prefix');
});

test('prefix-cache: higher match % beats lower load among matched workers', () => {
  const ws = workers(3);
  const p = createPolicy('prefix-cache', { stddev_factor: '10' });
  const c = ctx();
  const long = blockReq(range(0, 10));
  p.onDispatch!(long, ws[0], c);
  p.onDispatch!(blockReq(range(0, 5)), ws[1], c);
  ws[0].inFlight = 3;
  ws[1].inFlight = 1;
  ws[2].inFlight = 0;
  assert.deepEqual(p.pick(blockReq(range(0, 10)), ws, c), { worker: 0, branch: 'prefix-hit' });
});

test('kv-cost: hand-checked costs in blocks, prefill credit after the first token', () => {
  const ws = workers(2);
  const p = createPolicy('kv-cost') as KvCostPolicy;
  const c = ctx();
  const r1 = blockReq(range(0, 4)); // 64 tokens = 4 blocks
  assert.deepEqual(p.costs(r1, ws), [8, 8]); // prefill 4 + decode 0 + incoming 4
  const d = route(p, r1, ws, c);
  const w = d.worker;
  const o = 1 - w;
  const r2 = blockReq(range(0, 4));
  // on w: prefill max(4 active + 4 − 4 overlap, 0) = 4, decode 4 distinct + 4 = 8 → 12; on o: 4 + 0 + 4 = 8
  const costs = p.costs(r2, ws);
  assert.equal(costs[w], 12);
  assert.equal(costs[o], 8);
  p.onFirstToken!(r1, ws[w], c);
  // prefill done: w = max(0 + 4 − 4, 0) + 4 + 4 = 8 = o → tie
  assert.deepEqual(p.costs(r2, ws), [8, 8]);
  // a second request sharing all blocks on w adds no distinct decode blocks
  p.onDispatch!(r2, ws[w], c);
  p.onFirstToken!(r2, ws[w], c);
  assert.equal(p.costs(blockReq(range(0, 4)), ws)[w], 8);
  p.onComplete!(r1, ws[w], { ok: true, outputTokens: 1 }, c);
  p.onComplete!(r2, ws[w], { ok: true, outputTokens: 1 }, c);
  assert.deepEqual(p.costs(blockReq(range(100, 4)), ws), [8, 8]);
});

test('kv-cost: temperature samples every worker, lowest cost most often', () => {
  const ws = workers(2);
  const p = createPolicy('kv-cost', { temperature: '0.5' }) as KvCostPolicy;
  const c = ctx(3);
  p.onDispatch!(blockReq(range(0, 40)), ws[0], c); // worker 0 is loaded
  const n = [0, 0];
  for (let i = 0; i < 400; i++) n[p.pick(blockReq(range(1000 + i * 10, 4)), ws, c)!.worker]++;
  assert.ok(n[1] > n[0] && n[0] > 0, `picks ${n.join(',')}`);
});

test('weighted: scorer parsing, default pipeline, session and weighted-random pickers', () => {
  assert.throws(() => createPolicy('weighted', { scorers: 'prefix:3,bogus:1' }), /unknown scorer "bogus"/);
  assert.throws(() => createPolicy('weighted', { scorers: 'queue:-1' }), /weight of "queue"/);
  assert.throws(() => createPolicy('weighted', { picker: 'best' }), /max-score or weighted-random/);
  const ws = workers(3);
  ws[0].scraped = scraped({ waiting: 4, kvUsage: 0.5 });
  ws[1].scraped = scraped({ waiting: 0, kvUsage: 0.9 });
  ws[2].scraped = scraped({ waiting: 2, kvUsage: 0.1 });
  const c = ctx();
  // queue:2 → [0, 2, 1]; kv:2 → [1, 0.2, 1.8] → totals [1, 2.2, 2.8] → worker 2
  assert.equal(createPolicy('weighted', { scorers: 'queue:2,kv:2' }).pick(textReq('a'), ws, c)!.worker, 2);
  // prefix:3 dominates once worker 0 holds the prompt: [3 + 1, 2.2, 2.8]
  const p = createPolicy('weighted', { scorers: 'prefix:3,queue:2,kv:2' });
  const r = blockReq(range(0, 8));
  p.onDispatch!(r, ws[0], c);
  assert.equal(p.pick(blockReq(range(0, 8)), ws, c)!.worker, 0);
  // session scorer: the session's last worker
  const s = createPolicy('weighted', { scorers: 'session:1,active-requests:0.5' });
  s.onDispatch!(textReq('a', { sessionId: 'S' }), ws[1], c);
  ws[1].inFlight = 3;
  assert.equal(s.pick(textReq('b', { sessionId: 'S' }), ws, c)!.worker, 1);
  // weighted-random never picks a zero-score worker when another scores > 0
  const wr = createPolicy('weighted', { scorers: 'kv:1', picker: 'weighted-random' });
  ws[0].scraped = scraped({ kvUsage: 1 });
  for (let i = 0; i < 50; i++) assert.notEqual(wr.pick(textReq('a'), ws, c)!.worker, 0);
});

test('weighted: saturation filter drops saturated workers and fails open', () => {
  const ws = workers(2);
  ws[0].scraped = scraped({ waiting: 10 });
  ws[1].scraped = scraped({ waiting: 6, kvUsage: 0.95 });
  const p = createPolicy('weighted', { scorers: 'queue:1', filter: 'saturation' });
  const c = ctx();
  // both saturated → fail open → queue scorer picks worker 1 (fewer waiting)
  assert.equal(p.pick(textReq('a'), ws, c)!.worker, 1);
  ws[1].scraped = scraped({ waiting: 20, kvUsage: 0.95 });
  ws[0].scraped = scraped({ waiting: 1 });
  assert.equal(p.pick(textReq('a'), ws, c)!.worker, 0);
});

test('preble: exploit when the match exceeds the new part, else explore by load', () => {
  const ws = workers(3);
  const p = createPolicy('preble');
  const c = ctx();
  const d1 = route(p, blockReq(range(0, 100)), ws, c);
  assert.equal(d1.branch, 'explore');
  // 90 of 100 blocks match → exploit the worker that holds them
  assert.deepEqual(route(p, blockReq([...range(0, 90), ...range(5000, 10)]), ws, c), { worker: d1.worker, branch: 'exploit' });
  // 40 of 100 match (< new part) → explore: the holder has 2 requests' prefill in its window, the others none
  const d3 = route(p, blockReq([...range(0, 40), ...range(7000, 60)]), ws, c);
  assert.equal(d3.branch, 'explore');
  assert.notEqual(d3.worker, d1.worker);
  // once the window has passed, load history is forgotten
  c.clock.set(1000);
  for (const w of ws) w.inFlight = 0;
  const d4 = p.pick(blockReq([...range(0, 40), ...range(9000, 60)]), ws, c)!;
  assert.equal(d4.worker, d1.worker); // cheapest prefill: 40% cached there
});

test('consistent-hash: stable per key, spreads keys, bounded load spills clockwise, removal moves only its keys', () => {
  const ws = workers(4);
  const p = createPolicy('consistent-hash', { load_factor: '0' });
  const c = ctx();
  const home = new Map<string, number>();
  for (let i = 0; i < 400; i++) home.set(`s${i}`, p.pick(textReq('q', { sessionId: `s${i}` }), ws, c)!.worker);
  for (let i = 0; i < 400; i++) assert.equal(p.pick(textReq('q', { sessionId: `s${i}` }), ws, c)!.worker, home.get(`s${i}`));
  const per = [0, 0, 0, 0];
  for (const w of home.values()) per[w]++;
  for (const x of per) assert.ok(x > 50, `keys per worker ${per.join(',')}`);
  // worker 3 leaves: only its keys move
  const three = ws.slice(0, 3);
  for (const [k, w] of home) {
    const now = p.pick(textReq('q', { sessionId: k }), three, c)!.worker;
    if (w !== 3) assert.equal(now, w);
  }
  // bounded: the home worker over 1.25 × (total + 1) / n spills to another, consistently
  const b = createPolicy('consistent-hash');
  const h = b.pick(textReq('q', { sessionId: 'hot' }), ws, c)!.worker;
  ws[h].inFlight = 10;
  const spill = b.pick(textReq('q', { sessionId: 'hot' }), ws, c)!;
  assert.equal(spill.branch, 'spill');
  assert.notEqual(spill.worker, h);
  assert.equal(b.pick(textReq('q', { sessionId: 'hot' }), ws, c)!.worker, spill.worker);
  assert.equal(b.pick(textReq('q'), ws, c)!.branch, 'no-key');
});

test('session-affinity: sticky, re-pinned when overloaded, forgotten after the idle TTL', () => {
  const ws = workers(3);
  const p = createPolicy('session-affinity', { idle_ttl_s: '10' });
  const c = ctx();
  ws[0].inFlight = 1;
  ws[1].inFlight = 1;
  assert.deepEqual(route(p, textReq('a', { sessionId: 'S' }), ws, c), { worker: 2, branch: 'new' });
  assert.deepEqual(route(p, textReq('b', { sessionId: 'S' }), ws, c), { worker: 2, branch: 'sticky' });
  ws[2].inFlight = 9; // 10 > ceil(2 × (11 + 1) / 3) = 8
  const d = route(p, textReq('c', { sessionId: 'S' }), ws, c);
  assert.equal(d.branch, 'overloaded');
  assert.equal(p.pick(textReq('d', { sessionId: 'S' }), ws, c)!.worker, d.worker);
  c.clock.set(100);
  assert.equal(p.pick(textReq('e', { sessionId: 'S' }), ws, c)!.branch, 'new');
  p.onWorkerRemoved!(ws[d.worker]);
});

test('vtc: heavy users are steered to high-index workers, light users to low ones', () => {
  const ws = workers(4);
  const p = createPolicy('vtc', { jitter: '0' });
  const c = ctx();
  const heavy = textReq('h', { userId: 'heavy', inputTokens: 20_000 });
  const light = textReq('l', { userId: 'light', inputTokens: 100 });
  p.onDispatch!(heavy, ws[3], c);
  p.onDispatch!(light, ws[0], c);
  // bucket = max(1000, (100 + 20000)/2) = 10050; heavy target = min(1.99, 3); light target ≈ 0.01
  assert.equal(p.pick(heavy, ws, c)!.worker, 2);
  assert.equal(p.pick(light, ws, c)!.worker, 0);
  assert.equal(p.pick(textReq('x'), ws, c)!.branch, 'no-user');
  // counters expire with the window
  c.clock.set(1000);
  assert.equal(p.pick(heavy, ws, c)!.worker, 0);
});
