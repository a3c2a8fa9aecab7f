import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type Sequence } from '../../src/engine/engine.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import type { Request } from '../../src/workload/request.js';

function setup(fastDecode: boolean): { e: Engine; done: [string, number, boolean][]; cost: RooflineStepCost } {
  const d = resolveDeployment({ gpu: 'l20', engine: { max_num_seqs: 1 } });
  const cost = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
  const done: [string, number, boolean][] = [];
  const e = new Engine(d.engine, cost, { firstToken: () => undefined, finished: (s: Sequence, t) => done.push([s.req.id, t, s.aborted]) }, fastDecode);
  return { e, done, cost };
}

const req = (id: string, out: number): Request => ({ id, arrivalS: 0, inputTokens: 100, outputTokens: out });

for (const fastDecode of [false, true]) {
  test(`Engine.abort (fastDecode ${fastDecode}): a waiting request leaves at once, a running one at the end of the step in flight`, () => {
    const { e, done, cost } = setup(fastDecode);
    const a = e.add(req('a', 50), 0);
    const b = e.add(req('b', 5), 0);
    assert.equal(e.numWaiting, 1);
    e.abort(b, 0);
    assert.deepEqual(done, [['b', 0, true]]);
    assert.equal(e.numWaiting, 0);
    // Prefill of a, then a few decode steps.
    const prefill = cost.seconds({ tokens: 100, seqs: 1, prefillAttnPairs: 100 * 50, prefillKvTokens: 100, decodeKvTokens: 0 });
    assert.equal(e.nextEventTime, prefill);
    e.advance(prefill);
    const step = cost.decodeSeconds(1, 101);
    const mid = prefill + step / 2;
    e.abort(a, mid);
    // Whether or not a decode stretch was planned, the step in flight is the one that ends next.
    assert.equal(e.nextEventTime, prefill + step);
    e.advance(prefill + step);
    assert.deepEqual(done[1], ['a', prefill + step, true]);
    assert.ok(Number.isNaN(e.nextEventTime));
    assert.equal(e.pool.used, 0);
    assert.equal(e.numRunning, 0);
    // Aborting twice or after the end does nothing.
    e.abort(a, prefill + 2 * step);
    assert.equal(done.length, 2);
  });
}
