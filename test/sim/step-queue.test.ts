import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepQueue } from '../../src/sim/step-queue.js';

test('StepQueue: the top is always the earliest (time, sequence) of the workers scheduled, through re-keys and deletes', () => {
  const workers = 50;
  const q = new StepQueue(workers);
  const model = new Map<number, { time: number; seq: number }>();
  let rnd = 42;
  const next = (n: number): number => {
    rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
    return rnd % n;
  };
  let seq = 0;
  for (let step = 0; step < 20_000; step++) {
    const w = next(workers);
    const op = next(4);
    if (op === 0) {
      q.delete(w);
      model.delete(w);
    } else if (op === 1 && !q.empty) {
      // Pop the top, as the simulator does when a step ends.
      const top = q.topWorker;
      q.delete(top);
      model.delete(top);
    } else {
      // Few distinct times, so ties fall to the sequence number.
      const time = next(20);
      q.set(w, time, seq);
      model.set(w, { time, seq: seq++ });
    }
    let best: number | undefined;
    for (const [k, v] of model) {
      const b = best === undefined ? undefined : model.get(best);
      if (b === undefined || v.time < b.time || (v.time === b.time && v.seq < b.seq)) best = k;
    }
    assert.equal(q.empty, best === undefined);
    if (best !== undefined) {
      assert.equal(q.topWorker, best);
      assert.equal(q.topTime, model.get(best)?.time);
      assert.equal(q.topSeq, model.get(best)?.seq);
    }
  }
});
