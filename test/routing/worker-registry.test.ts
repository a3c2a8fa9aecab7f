import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/routing/router.js';
import { setHealthy, WorkerExistsError, WorkerRegistry, type WorkerEvent, type WorkerInit } from '../../src/routing/worker-registry.js';
import { createPolicy } from '../../src/routing/registry.js';
import type { Policy } from '../../src/routing/types.js';
import type { Request } from '../../src/workload/request.js';
import type { CacheAwarePolicy } from '../../src/routing/policies/cache-aware.js';
import type { PrefixCachePolicy } from '../../src/routing/policies/prefix-cache.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import { textReq } from './helpers.js';

function init(name: string, extra: Partial<WorkerInit> = {}): WorkerInit {
  return { name, url: `http://${name}:8000`, gpu: 'l20', model: 'm', profile: 'm@l20', costUsdPerHour: 1, kvCapacityTokens: 16_000, blockSize: 16, ...extra };
}

function router(policy: Policy, names: string[] = []): { r: Router; sent: { id: string; worker: string }[]; rejected: string[] } {
  const sent: { id: string; worker: string }[] = [];
  const rejected: string[] = [];
  const r = new Router({
    policy,
    workers: names.map((n) => init(n)),
    clock: new VirtualClock(),
    rng: createRng(1),
    sink: { dispatch: (req, w) => sent.push({ id: req.id, worker: w.name }), reject: (req) => rejected.push(req.id) },
  });
  return { r, sent, rejected };
}

const done = (r: Router, req: Request): void => r.onComplete(req, { ok: true, outputTokens: 1 }, false);

test('registry: stable ids never reused, lowest free slot reused, lookups by id, name, URL and model', () => {
  const reg = new WorkerRegistry();
  const a = reg.add(init('a'));
  const b = reg.add(init('b', { model: 'x' }));
  const c = reg.add(init('c', { model: 'x' }));
  assert.deepEqual([a.id, b.id, c.id], [0, 1, 2]);
  assert.deepEqual([a.index, b.index, c.index], [0, 1, 2]);
  assert.equal(reg.remove(a.id), 'removed');
  assert.equal(reg.remove(b.id), 'removed');
  const d = reg.add(init('d'));
  assert.equal(d.id, 3);
  assert.equal(d.index, 0, 'the lowest free slot');
  assert.deepEqual(reg.workers.map((w) => w.name), ['d', 'c']);
  assert.equal(reg.get(c.id), c);
  assert.equal(reg.get(a.id), undefined);
  assert.equal(reg.byWorkerName('c'), c);
  assert.equal(reg.byWorkerUrl('http://d:8000'), d);
  assert.equal(reg.find('2'), c);
  assert.equal(reg.find('http://c:8000'), c);
  assert.equal(reg.find('a'), undefined);
  assert.deepEqual(reg.byModel('x'), [c]);
  assert.deepEqual(reg.byModel('m'), [d]);
  assert.throws(() => reg.add(init('c', { url: 'http://other' })), WorkerExistsError);
  assert.throws(() => reg.add(init('e', { url: 'http://d:8000' })), /already registered with this URL/);
});

test('registry lists are snapshots: a list a policy holds does not change under it', () => {
  const reg = new WorkerRegistry();
  reg.add(init('a'));
  const before = reg.workers;
  reg.add(init('b'));
  assert.equal(before.length, 1);
  assert.notEqual(reg.workers, before);
});

test('a drained worker takes no new request, its in-flight ones finish, then it is drained', () => {
  const { r, sent } = router(createPolicy('round-robin'), ['a', 'b']);
  const events: string[] = [];
  r.onWorkerEvent((e: WorkerEvent) => events.push(`${e.type}:${e.worker.name}`));
  const reqs = Array.from({ length: 4 }, () => textReq('hello'));
  r.submit(reqs[0]);
  r.submit(reqs[1]);
  const onB = reqs.slice(0, 2).find((_, i) => sent[i].worker === 'b') as Request;
  const b = r.registry.byWorkerName('b');
  assert.ok(b);
  assert.ok(r.drainWorker(b.id));
  assert.deepEqual(events, ['draining:b']);
  r.submit(reqs[2]);
  r.submit(reqs[3]);
  assert.deepEqual(sent.slice(2).map((s) => s.worker), ['a', 'a']);
  assert.equal(b.inFlight, 1);
  done(r, onB);
  assert.deepEqual(events, ['draining:b', 'drained:b']);
  assert.ok(r.resumeWorker(b.id));
  r.submit(textReq('x'));
  r.submit(textReq('y'));
  assert.ok(sent.slice(4).some((s) => s.worker === 'b'), 'a resumed worker takes requests again');
});

test('removing a worker with requests in flight drains it; it is freed, and the policy told, after the last one ends', () => {
  const calls: string[] = [];
  const base = createPolicy('least-request');
  const policy: Policy = {
    name: 'spy',
    pick: (req, c, ctx) => base.pick(req, c, ctx),
    onComplete: (_req, w) => calls.push(`complete:${w.name}`),
    onWorkerAdded: (w) => calls.push(`added:${w.name}`),
    onWorkerRemoved: (w) => calls.push(`removed:${w.name}`),
  };
  const { r, sent } = router(policy, ['a']);
  const req = textReq('p');
  r.submit(req);
  assert.equal(sent[0].worker, 'a');
  const a = r.registry.byWorkerName('a');
  assert.ok(a);
  assert.equal(r.removeWorker(a.id), 'pending');
  assert.equal(r.registry.state(a.id), 'removing');
  const other = textReq('q');
  r.addWorker(init('b'));
  r.submit(other);
  assert.equal(sent[1].worker, 'b', 'a worker being removed takes no new request');
  done(r, req);
  assert.deepEqual(calls, ['added:a', 'added:b', 'complete:a', 'removed:a']);
  assert.equal(r.registry.get(a.id), undefined);
  assert.equal(r.removeWorker(a.id), undefined);
  assert.deepEqual(r.workers.map((w) => w.name), ['b']);
});

test('10,000 add/remove cycles leave the registry, the router and prefix-aware policies holding nothing of removed workers', () => {
  for (const name of ['prefix-cache', 'cache-aware', 'kv-cost', 'weighted', 'preble', 'consistent-hash', 'session-affinity', 'least-latency']) {
    const policy = createPolicy(name, name === 'weighted' ? { scorers: 'prefix:3,session:1,queue:1' } : {});
    const { r, sent, rejected } = router(policy, ['keep-0', 'keep-1']);
    const keep = [...r.workers];
    // The permanent workers hold prefix state too (two prompts each).
    for (let i = 0; i < 4; i++) {
      setHealthy(keep[1 - (i % 2)], false);
      const q = textReq(`system prompt ${'k'.repeat(256)} ${i}`, { sessionId: `k${i}` });
      r.submit(q);
      done(r, q);
      setHealthy(keep[1 - (i % 2)], true);
    }
    let lastId = -1;
    for (let i = 0; i < 10_000; i++) {
      const w = r.addWorker(init(`tmp-${i}`));
      lastId = w.id;
      for (const k of keep) setHealthy(k, false);
      const req = textReq(`prompt ${i} ${'x'.repeat(200)}`, { sessionId: `s${i}` });
      r.submit(req);
      for (const k of keep) setHealthy(k, true);
      assert.equal(sent[sent.length - 1].worker, w.name);
      // Half the cycles remove with the request still in flight (pending removal), half after it ends.
      if (i % 2 === 0) {
        assert.equal(r.removeWorker(w.id), 'pending');
        done(r, req);
      } else {
        done(r, req);
        assert.equal(r.removeWorker(w.id), 'removed');
      }
      assert.equal(r.registry.get(w.id), undefined);
    }
    assert.equal(rejected.length, 0);
    assert.equal(lastId, 10_001, 'ids are never reused');
    assert.deepEqual(r.registry.entryCounts(), { slots: 2, slotArray: 2, ids: 2, names: 2, urls: 2, listeners: 1 }, name);
    assert.deepEqual(r.workers, keep);
    assert.equal(r.inFlightTotal, 0);
    if (name === 'prefix-cache') {
      const idx = (policy as PrefixCachePolicy).index;
      assert.equal(idx.workerCount(), 2, 'only the permanent workers have an LRU');
      assert.equal(idx.size(2), 0);
    }
    if (name === 'cache-aware') {
      const tenants = (policy as CacheAwarePolicy).tree.tenantEntries();
      assert.deepEqual([...tenants.keys()].sort(), [0, 1], 'no tree node names a removed worker');
      assert.ok((policy as CacheAwarePolicy).tree.nodeCount < 20, `tree nodes ${(policy as CacheAwarePolicy).tree.nodeCount}`);
    }
  }
});
