import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/routing/router.js';
import { setHealthy, WorkerRegistry, type WorkerInit } from '../../src/routing/worker-registry.js';
import { createPolicy } from '../../src/routing/registry.js';
import { argminRandomTie } from '../../src/routing/pick.js';
import { inFlight } from '../../src/routing/candidates.js';
import type { Policy, WorkerView } from '../../src/routing/types.js';
import type { Request } from '../../src/workload/request.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import { ModelIndex } from '../../src/routing/plugins/filters/model.js';

function init(name: string): WorkerInit {
  return { name, gpu: 'l20', model: 'm', profile: 'm@l20', costUsdPerHour: 1 };
}

const scanEligible = (reg: WorkerRegistry): WorkerView[] => reg.routable.filter((w) => w.healthy);

test('registry.eligible is the routable healthy workers in slot order through random adds, drains, resumes, removals and health flips (also of another registry\'s workers); its object changes only with its members (or with `routable`)', () => {
  const ops = createRng(3);
  const reg = new WorkerRegistry();
  const other = new WorkerRegistry();
  const stranger = other.add(init('stranger'));
  let n = 0;
  for (let i = 0; i < 6; i++) reg.add(init(`w${n++}`));
  let prev = reg.eligible;
  let prevMembers = [...prev];
  let prevRoutable = reg.routable;
  for (let step = 0; step < 5000; step++) {
    const all = reg.workers;
    const pick = (): WorkerView | undefined => (all.length === 0 ? undefined : all[ops.int(all.length)]);
    const r = ops.next();
    const w = pick();
    if (r < 0.1 || !w) reg.add(init(`w${n++}`));
    else if (r < 0.2) reg.drain(w.id);
    else if (r < 0.3) reg.resume(w.id);
    else if (r < 0.38) {
      // Sometimes with a request in flight: the removal is then pending (the worker drains).
      w.inFlight = ops.next() < 0.5 ? 1 : 0;
      reg.remove(w.id);
      if (w.inFlight > 0 && ops.next() < 0.5) {
        w.inFlight = 0;
        reg.released(w);
      }
    } else if (r < 0.5) setHealthy(stranger, !stranger.healthy);
    else setHealthy(w, !w.healthy);
    const e = reg.eligible;
    assert.deepEqual(e, scanEligible(reg), `step ${step}`);
    if (e.every((x) => x.healthy) && e.length === reg.routable.length) assert.equal(e, reg.routable, 'all healthy: the routable list itself');
    const same = e.length === prevMembers.length && e.every((x, i) => x === prevMembers[i]);
    // (The registry replaces `routable` on any change, e.g. freeing a drained worker; all healthy, that list is `eligible`.)
    if (same && (e !== reg.routable || reg.routable === prevRoutable)) assert.equal(e, prev, `step ${step}: same members, same list object`);
    else assert.notEqual(e, prev, `step ${step}: new members, new list object`);
    assert.equal(reg.eligible, e, 'stable between changes');
    prev = e;
    prevMembers = [...e];
    prevRoutable = reg.routable;
  }
});

test('least-request and cache-aware through the router pick exactly what a plain scan of the healthy routable workers picks, with the same draws, through membership and health churn', () => {
  for (const name of ['least-request', 'cache-aware']) {
    // The reference: the router's candidates checked against a scan, and argminRandomTie over them.
    const scan: Policy = {
      name: 'scan',
      usesPrefix: false,
      pick: (_req, candidates, ctx) => ({ worker: argminRandomTie(candidates, inFlight, ctx.rng).index }),
    };
    const make = (policy: Policy): { r: Router; sent: string[] } => {
      const sent: string[] = [];
      const r = new Router({
        policy,
        workers: Array.from({ length: 5 }, (_, i) => init(`w${i}`)),
        clock: new VirtualClock(),
        rng: createRng(9),
        sink: { dispatch: (req, w) => sent.push(`${req.id}:${w.name}`), reject: (req, why) => sent.push(`${req.id}:rejected ${why}`) },
      });
      return { r, sent };
    };
    const fast = make(createPolicy(name));
    const ref = make(scan);
    const ops = createRng(17);
    const open: Request[] = [];
    let added = 5;
    for (let step = 0; step < 4000; step++) {
      const r = ops.next();
      const both = [fast.r, ref.r];
      const k = ops.int(Math.max(1, fast.r.workers.length));
      const wf = fast.r.workers[k] as WorkerView | undefined;
      const wr = ref.r.workers[k] as WorkerView | undefined;
      if (r < 0.45) {
        const req: Request = { id: `q${step}`, arrivalS: step, inputTokens: 10, outputTokens: 1 };
        for (const x of both) x.submit(req);
        open.push(req);
      } else if (r < 0.8 && open.length > 0) {
        const req = open.splice(ops.int(open.length), 1)[0];
        for (const x of both) x.onComplete(req, { ok: true, outputTokens: 1 }, false);
      } else if (r < 0.9 && wf && wr) {
        const h = !wf.healthy;
        setHealthy(wf, h);
        setHealthy(wr, h);
      } else if (r < 0.93 && wf && wr) {
        fast.r.drainWorker(wf.id);
        ref.r.drainWorker(wr.id);
      } else if (r < 0.96 && wf && wr) {
        fast.r.resumeWorker(wf.id);
        ref.r.resumeWorker(wr.id);
      } else if (r < 0.98 && wf && wr) {
        fast.r.removeWorker(wf.id);
        ref.r.removeWorker(wr.id);
      } else {
        fast.r.addWorker(init(`w${added}`));
        ref.r.addWorker(init(`w${added}`));
        added++;
      }
      assert.deepEqual(fast.sent, ref.sent, `${name}, step ${step}`);
    }
    assert.ok(fast.sent.length > 1000);
    assert.ok(fast.sent.some((s) => s.includes('rejected')), 'the churn also emptied the candidates at times');
  }
});

test('ModelIndex.narrow: the cached narrowing of a candidate list is the scan\'s, for every list and model, across registry changes', () => {
  const ops = createRng(23);
  const reg = new WorkerRegistry();
  const models = ['a', 'b', 'unknown'];
  const index = new ModelIndex();
  let n = 0;
  for (let i = 0; i < 8; i++) reg.add({ ...init(`w${n++}`), model: models[i % 3], modelAliases: [`${models[i % 3]}-alias`] });
  for (let step = 0; step < 2000; step++) {
    const r = ops.next();
    const all = reg.workers;
    if (r < 0.1) reg.add({ ...init(`w${n++}`), model: models[ops.int(3)] });
    else if (r < 0.2 && all.length > 1) reg.remove(all[ops.int(all.length)].id);
    else if (r < 0.4 && all.length > 0) setHealthy(all[ops.int(all.length)], ops.next() < 0.5);
    index.reset(reg.workers);
    const candidates = reg.eligible;
    for (const m of ['a', 'b', 'a-alias', 'b-alias', 'c']) {
      const wildcard = candidates.filter((c) => c.model === 'unknown');
      const expected = candidates.filter((c) => c.model === m || c.modelAliases?.includes(m) || c.model === 'unknown');
      const got = index.narrow(m, candidates);
      const known = reg.workers.some((w) => w.model === m || w.modelAliases?.includes(m));
      if (!known && !reg.workers.some((w) => w.model === 'unknown')) assert.deepEqual(got, [], m);
      else assert.deepEqual(got, known ? expected : wildcard, `step ${step}, model ${m}`);
      if (expected.length === candidates.length && known) assert.equal(got, candidates, 'all serve it: the list itself');
    }
  }
});
