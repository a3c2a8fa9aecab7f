import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from '../../src/routing/router.js';
import { createPolicy } from '../../src/routing/registry.js';
import type { WorkerView } from '../../src/routing/types.js';
import type { WorkerInit } from '../../src/routing/worker-registry.js';
import { localInFlight } from '../../src/routing/shared-state.js';
import { ReplicatedRouter } from '../../src/sim/replicas.js';
import { Simulation } from '../../src/sim/simulator.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function init(name: string): WorkerInit {
  return { name, gpu: 'l20', model: 'm', profile: 'm@l20', costUsdPerHour: 1, kvCapacityTokens: 16_000, blockSize: 16 };
}

const req = (id: string, extra: Partial<Request> = {}): Request => ({ id, arrivalS: 0, inputTokens: 100, outputTokens: 10, ...extra });

test('Router remote-load overlay: policies see local + remote; drain and removal wait for local requests only', () => {
  const sent: string[] = [];
  const events: string[] = [];
  const r = new Router({ policy: createPolicy('least-request'), workers: [init('a'), init('b')], clock: new VirtualClock(), rng: createRng(1), sink: { dispatch: (q, w) => sent.push(`${q.id}->${w.name}`), reject: () => undefined } });
  r.onWorkerEvent((e) => events.push(`${e.type}:${e.worker.name}`));
  const [a, b] = r.workers;
  r.setRemoteLoad(a, { inFlight: 3, promptTokens: 300, inPrefill: 2 });
  assert.deepEqual([a.inFlight, a.inFlightPromptTokens, a.inPrefill], [3, 300, 2]);
  // Least-request through the router's in-flight index: b (0) beats a (3 remote).
  r.submit(req('1'));
  r.submit(req('2'));
  r.submit(req('3'));
  assert.deepEqual(sent, ['1->b', '2->b', '3->b']);
  assert.equal(localInFlight(a), 0);
  assert.equal(b.remote, undefined);
  // A new overlay replaces the old one; zero clears it.
  r.setRemoteLoad(a, { inFlight: 1, promptTokens: 100, inPrefill: 0 });
  assert.deepEqual([a.inFlight, a.inFlightPromptTokens, a.inPrefill], [1, 100, 0]);
  r.submit(req('4'));
  assert.equal(sent[3], '4->a');
  r.onComplete(req('4'), { ok: true, outputTokens: 10 }, false);
  assert.deepEqual([a.inFlight, a.inFlightPromptTokens], [1, 100]);
  // a holds only another replica's request: draining completes at once, removal frees it at once.
  assert.equal(r.drainWorker(a.id), true);
  assert.ok(events.includes('drained:a'), events.join(' '));
  assert.equal(r.removeWorker(a.id), 'removed');
  r.setRemoteLoad(b, { inFlight: 0, promptTokens: 0, inPrefill: 0 });
  assert.equal(b.inFlight, 3);
});

test('Router shared queue bound: requests in the other replicas\' queues count against maxLength', () => {
  const rejected: string[] = [];
  // A pull-mode policy that never places anything: every request waits.
  const hold = { name: 'hold', mode: 'pull' as const, pick: () => null };
  const r = new Router({ policy: hold, workers: [init('a')], clock: new VirtualClock(), rng: createRng(1), queue: { maxLength: 3 }, sink: { dispatch: () => undefined, reject: (q) => rejected.push(q.id) } });
  r.setRemoteQueued(2);
  r.submit(req('1'));
  r.submit(req('2'));
  assert.deepEqual(rejected, ['2']);
  assert.equal(r.queuedTotal, 1);
});

function replicated(policy: string, count: number, shared: boolean, opts: Record<string, unknown> = {}): { rr: ReplicatedRouter; clock: VirtualClock; sent: { id: string; worker: string }[] } {
  const clock = new VirtualClock();
  const sent: { id: string; worker: string }[] = [];
  const rr = new ReplicatedRouter(
    { count, split: 'round-robin', shared: shared ? { syncS: 0.1 } : undefined, policyFor: (_i, env) => createPolicy(policy, opts, env) },
    clock,
    7,
    { dispatch: (q, w) => sent.push({ id: q.id, worker: w.name }), reject: () => undefined },
  );
  rr.addWorker(init('a'));
  rr.addWorker(init('b'));
  return { rr, clock, sent };
}

/** Runs the replicated router's deadlines up to `t` (what the simulator's loop does). */
function advance(rr: ReplicatedRouter, clock: VirtualClock, t: number): void {
  for (let d = rr.nextDeadline(); d <= t; d = rr.nextDeadline()) {
    clock.set(Math.max(clock.now(), d));
    rr.onTimer(clock.now());
  }
  clock.set(t);
}

test('replicas: round-robin split; independent replicas each balance only their own share', () => {
  const { rr, sent } = replicated('least-request', 2, false);
  for (let i = 0; i < 4; i++) rr.submit(req(String(i)));
  assert.deepEqual(rr.submitted, [2, 2]);
  // Each replica sees only its own two requests: one on a, one on b.
  assert.equal(sent.filter((s) => s.worker === 'a').length, 2);
  const fleet: readonly WorkerView[] = rr.workers;
  assert.deepEqual(fleet.map((w) => w.inFlight), [2, 2]);
  assert.equal(rr.nextDeadline(), Infinity, 'no sync without shared state');
});

test('replicas with shared state: after a sync each replica sees the others\' load exactly, and balances the fleet', () => {
  const { rr, clock, sent } = replicated('least-request', 2, true);
  // Replica 0 gets request 0; the sync tells replica 1.
  rr.submit(req('0'));
  advance(rr, clock, 0);
  const first = sent[0].worker;
  const [r0, r1] = rr.replicas;
  const onFirst1 = r1.workers.find((w) => w.name === first) as WorkerView;
  assert.deepEqual(onFirst1.remote, { inFlight: 1, promptTokens: 100, inPrefill: 1 });
  assert.equal(r0.workers.find((w) => w.name === first)?.remote, undefined);
  rr.submit(req('1'));
  assert.notEqual(sent[1].worker, first, 'replica 1 avoids the worker replica 0 loaded');
  // Completions go back to the replica that placed the request; the next sync clears the overlay.
  rr.onComplete(req('0'), { ok: true, outputTokens: 10 }, false);
  rr.onComplete(req('1'), { ok: true, outputTokens: 10 }, false);
  assert.equal(rr.inFlightTotal, 0);
  advance(rr, clock, 1);
  for (const r of rr.replicas) for (const w of r.workers) assert.equal(w.remote, undefined);
  assert.equal(rr.nextDeadline(), Infinity, 'idle: no more syncs');
});

test('replicas with shared state: a session pinned by one replica sticks on another replica after the sync', () => {
  const { rr, clock, sent } = replicated('session-affinity', 2, true, { load_factor: 0 });
  rr.submit(req('s1', { sessionId: 'S' })); // replica 0 pins S
  const pinned = sent[0].worker;
  rr.submit(req('x', { sessionId: 'other' })); // replica 1, before any sync
  advance(rr, clock, 0.05);
  rr.submit(req('s2', { sessionId: 'S' })); // replica 0 again: its own pin
  rr.submit(req('s3', { sessionId: 'S' })); // replica 1: the shared pin (synced at t=0)
  assert.equal(sent[2].worker, pinned);
  assert.equal(sent[3].worker, pinned);
  assert.ok(rr.syncRounds >= 1);
});

test('simulate --router-replicas: every request is served once; 1 replica is the plain router; shared state runs syncs', async () => {
  const requests = (): Request[] => Array.from({ length: 60 }, (_, i) => ({ id: `r${i}`, arrivalS: i * 0.05, inputTokens: 200, outputTokens: 20, prefix: { kind: 'tokens' as const, ids: Array.from({ length: 200 }, (_, k) => (k < 160 ? (i % 4) * 1000 + k : i * 7 + k)) } }));
  const run = async (replicas?: { count: number; shared: boolean }): Promise<Simulation> => {
    const sim = new Simulation({
      fleet: parseFleet('l20:4'),
      policy: createPolicy('prefix-cache'),
      requests: requests(),
      seed: 3,
      scrapeIntervalS: 0.5,
      timeseriesIntervalS: 60,
      replicas: replicas && { count: replicas.count, split: 'round-robin', shared: replicas.shared ? { syncS: 0.05 } : undefined, policyFor: (_i, env) => createPolicy('prefix-cache', {}, env) },
    });
    await sim.run();
    return sim;
  };
  for (const opt of [undefined, { count: 3, shared: false }, { count: 3, shared: true }]) {
    const sim = await run(opt);
    assert.equal(sim.log.length, 60, JSON.stringify(opt));
    assert.equal(sim.router.inFlightTotal, 0);
    assert.deepEqual(sim.views.map((v) => v.inFlight), [0, 0, 0, 0]);
    if (opt) assert.deepEqual((sim.router as ReplicatedRouter).submitted, [20, 20, 20]);
    if (opt?.shared) assert.ok((sim.router as ReplicatedRouter).syncRounds > 10);
  }
});

test('simulate CLI: --router-replicas flags are checked with one clear line', () => {
  const bad = (args: string[], msg: RegExp): void => {
    const r = spawnSync(process.execPath, [CLI, 'simulate', '--no-tui', '--limit', '5', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  };
  bad(['--router-replicas', '0'], /--router-replicas: expected an integer from 1 to 1024, got "0"/);
  bad(['--router-replicas', '2', '--replica-split', 'hash'], /--replica-split hash: expected one of round-robin, random/);
  bad(['--router-replicas', '2', '--sync-delay', '1'], /--sync-delay: only with --shared-state/);
  bad(['--shared-state'], /--shared-state: needs --router-replicas 2 or more/);
  bad(['--router-replicas', '2', '--share-routing', 'sync'], /--share-routing: only with --shared-state/);
  bad(['--router-replicas', '2', '--shared-state', '--share-routing', 'later'], /--share-routing later: expected one of immediate, sync, off/);
  const ok = spawnSync(process.execPath, [CLI, 'simulate', '--no-tui', '--json', '--limit', '40', '--router-replicas', '3', '--shared-state', '--sync-delay', '0.2'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { requests: number }).requests, 40);
});

/** A prompt of 10 shared 16-token blocks (family `f`) and a tail of its own. */
function prefixed(id: string, f: number): Request {
  const ids = Array.from({ length: 170 }, (_, k) => (k < 160 ? f * 1000 + k : 500_000 + Number(id.replace(/\D/g, '')) * 17 + k));
  return req(id, { inputTokens: 170, prefix: { kind: 'tokens', ids } });
}

function sharing(routing: boolean, routingDelayS?: number): { rr: ReplicatedRouter; clock: VirtualClock; sent: { id: string; worker: string }[] } {
  const clock = new VirtualClock();
  const sent: { id: string; worker: string }[] = [];
  const rr = new ReplicatedRouter(
    { count: 2, split: 'round-robin', shared: { syncS: 0.05, routing, routingDelayS }, policyFor: (_i, env) => createPolicy('prefix-cache', {}, env) },
    clock,
    7,
    { dispatch: (q, w) => sent.push({ id: q.id, worker: w.name }), reject: () => undefined },
  );
  rr.addWorker(init('a'));
  rr.addWorker(init('b'));
  return { rr, clock, sent };
}

test('replicas sharing routing decisions: a prefix one replica placed is found by the other, which otherwise places it elsewhere', () => {
  for (const routing of [true, false]) {
    const { rr, clock, sent } = sharing(routing);
    rr.submit(prefixed('p0', 1)); // replica 0 places family 1
    advance(rr, clock, 0.06); // one sync: load (and, when shared, the decision) reach replica 1
    rr.submit(prefixed('p1', 1)); // replica 1, same prefix
    const first = sent[0].worker;
    if (routing) assert.equal(sent[1].worker, first, 'the shared decision: same worker, a prefix hit');
    else assert.notEqual(sent[1].worker, first, 'no shared decision: replica 1 sees only the load and balances away');
  }
});

test('replicas sharing routing decisions: replayed after routingDelayS, not at the next sync; each decision once', () => {
  const { rr, clock, sent } = sharing(true, 0.002);
  rr.submit(prefixed('p0', 2));
  assert.equal(rr.nextDeadline(), 0, 'the first sync is due at once');
  rr.onTimer(0);
  assert.equal(rr.nextDeadline(), 0.002, 'the decision is replayed after the routing delay, before the next sync');
  advance(rr, clock, 0.002);
  const [, r1] = rr.replicas;
  const idx = r1.workers.find((w) => w.name === sent[0].worker) as WorkerView;
  assert.equal(rr.nextDeadline(), 0.05);
  // Replica 1's policy now holds the 10 prefix blocks on that worker (and nothing on the other).
  rr.submit(prefixed('p1', 2));
  assert.equal(sent[1].worker, idx.name);
  // Replica 1's own decision is replayed on replica 0 only.
  advance(rr, clock, 0.01);
  rr.submit(prefixed('p2', 2));
  assert.equal(sent[2].worker, idx.name);
});
