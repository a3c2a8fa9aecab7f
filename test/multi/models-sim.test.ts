import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFleet } from '../../src/profiles/fleet.js';
import { BUILTIN_POLICIES, createPolicy } from '../../src/routing/registry.js';
import { Simulation } from '../../src/sim/simulator.js';
import { Router } from '../../src/routing/router.js';
import { VirtualClock } from '../../src/util/clock.js';
import { childRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';
import type { Policy } from '../../src/routing/types.js';
import { parseMix } from '../../src/workload/mix.js';
import { profilePolicy } from '../../src/routing/plugins/profile.js';
import { createPolicyEnv } from '../../src/routing/env.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'router-models-'));
const fleetFile = join(dir, 'fleet.yaml');
writeFileSync(fleetFile, 'workers:\n  - {name: small-a, gpu: h100-sxm, model: llama-3.1-8b}\n  - {name: small-b, gpu: h100-sxm, model: llama-3.1-8b}\n  - {name: big, gpu: h100-sxm, model: qwen3-32b, tp: 2}\n');

/** 300 requests alternating between the two models (one by its Hugging Face name), sharing prefixes. */
function requests(): Request[] {
  const out: Request[] = [];
  for (let i = 0; i < 300; i++) {
    const model = ['llama-3.1-8b', 'qwen3-32b', 'Qwen/Qwen3-32B'][i % 3];
    out.push({ id: `r${i}`, arrivalS: i * 0.05, inputTokens: 200, outputTokens: 20, model, prefix: { kind: 'blocks', blockTokens: 16, hashIds: Array.from({ length: 12 }, (_, k) => (k < 8 ? (i % 5) * 100 + k : i * 1000 + k)) }, sessionId: `s${i % 7}` });
  }
  return out;
}

test('a two-model fleet routes every request to a worker serving its model, under every shipped push policy', async () => {
  const fleet = parseFleet(fleetFile);
  const modelOf = new Map(fleet.map((w) => [w.name, w.deployment.model.id]));
  for (const f of BUILTIN_POLICIES) {
    const sim = new Simulation({ fleet, policy: createPolicy(f.name), requests: requests(), seed: 1, scrapeIntervalS: 0.5, timeseriesIntervalS: 10 });
    const r = await sim.run();
    assert.equal(r.summary.completed, 300, f.name);
    for (let i = 0; i < r.log.length; i++) {
      const want = Number(r.log.ids[i].slice(1)) % 3 === 0 ? 'llama-3.1-8b' : 'qwen3-32b';
      assert.equal(modelOf.get(r.log.workers[i]), want, `${f.name}: ${r.log.ids[i]} on ${r.log.workers[i]}`);
    }
    assert.deepEqual(r.summary.by_model?.map((m) => [m.name, m.requests, m.completed]), [['llama-3.1-8b', 100, 100], ['qwen3-32b', 200, 200]], f.name);
  }
});

test('the model filter plugin narrows a profile to the model and leaves a model-less request alone', () => {
  const policy = profilePolicy({ name: 'p', filters: [{ type: 'model' }], scorers: [{ type: 'queue', weight: 1 }], picker: { type: 'max-score' } }, createPolicyEnv());
  const clock = new VirtualClock();
  const placed: string[] = [];
  const router = new Router({ policy, clock, rng: childRng(1, 'r'), sink: { dispatch: (_q, w) => placed.push(w.name), reject: (q, why) => placed.push(`rejected ${q.id}: ${why}`) } });
  router.addWorker({ name: 'a', gpu: 'g', model: 'm1', profile: 'p', costUsdPerHour: 0 });
  router.addWorker({ name: 'b', gpu: 'g', model: 'm2', modelAliases: ['org/M2'], profile: 'p', costUsdPerHour: 0 });
  for (let i = 0; i < 4; i++) router.submit({ id: `x${i}`, arrivalS: 0, inputTokens: 10, outputTokens: 1, model: 'org/M2' });
  router.submit({ id: 'y', arrivalS: 0, inputTokens: 10, outputTokens: 1, model: 'm1' });
  router.submit({ id: 'z', arrivalS: 0, inputTokens: 10, outputTokens: 1, model: 'nope' });
  assert.deepEqual(placed, ['b', 'b', 'b', 'b', 'a', 'rejected z: no healthy worker serves model nope']);
  assert.equal(router.servesModel('org/M2'), true);
  assert.equal(router.servesModel('nope'), false);
  assert.deepEqual(router.models.models().map((m) => [m.model, m.workers, m.aliases]), [['m1', 1, []], ['m2', 1, ['org/M2']]]);
});

test('pull mode on a mixed fleet keeps one FIFO per model: a full model does not hold up another', () => {
  // Takes a request only onto an idle worker, so requests wait in the Router's queue.
  const idleOnly: Policy = {
    name: 'idle-only',
    mode: 'pull',
    pick: (_req, candidates) => {
      const w = candidates.find((c) => c.inFlight === 0);
      return w ? { worker: w.index } : null;
    },
  };
  const placed: string[] = [];
  const clock = new VirtualClock();
  const router = new Router({ policy: idleOnly, clock, rng: childRng(1, 'r'), sink: { dispatch: (q, w) => placed.push(`${q.id}@${w.name}`), reject: (q) => placed.push(`rejected ${q.id}`) } });
  router.addWorker({ name: 'a', gpu: 'g', model: 'm1', profile: 'p', costUsdPerHour: 0 });
  router.addWorker({ name: 'b', gpu: 'g', model: 'm2', profile: 'p', costUsdPerHour: 0 });
  const req = (id: string, model: string): Request => ({ id, arrivalS: 0, inputTokens: 1, outputTokens: 1, model });
  router.submit(req('a1', 'm1'));
  router.submit(req('a2', 'm1'));
  router.submit(req('b1', 'm2'));
  assert.deepEqual(placed, ['a1@a', 'b1@b'], 'b1 passes a2, which waits for a');
  router.onComplete(req('a1', 'm1'), { ok: true, outputTokens: 1 }, false);
  assert.deepEqual(placed, ['a1@a', 'b1@b', 'a2@a']);
});

test('--mix attributes: model=, lora=, tenant=, priority= parse; unknown keys are refused', () => {
  assert.deepEqual(parseMix('a.jsonl:2:model=m1:tenant=t1,b.jsonl:1:jsonl:priority=critical:lora=ad-3'), [
    { path: 'a.jsonl', rateRps: 2, format: undefined, attrs: { model: 'm1', tenant: 't1' } },
    { path: 'b.jsonl', rateRps: 1, format: 'jsonl', attrs: { priority: 'critical', adapter: 'ad-3' } },
  ]);
  assert.throws(() => parseMix('a.jsonl:2:colour=red'), /unknown attribute "colour"/);
  assert.throws(() => parseMix('a.jsonl:2:model='), /model= needs a value/);
});

test('simulate: a request for a model no worker serves is one clear line and exit 2; a mix per model gives per-model rows', () => {
  const bad = runCli(['simulate', '--fleet', fleetFile, '--mix', 'traces/default.jsonl:4:model=llama-3.1-8b,traces/default.jsonl:2:model=mistral-7b-v0.1', '--duration', '5', '--json']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /^router: request default-2\/\S+ \(source default-2\): model "mistral-7b-v0.1" is served by no worker of the fleet \(fleet models: llama-3.1-8b, qwen3-32b;/m);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/, 'no stack trace');
  const ok = runCli(['simulate', '--fleet', fleetFile, '--mix', 'traces/default.jsonl:4:model=llama-3.1-8b,traces/default.jsonl:2:model=qwen3-32b', '--duration', '20', '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  const s = JSON.parse(ok.stdout) as { requests: number; by_model: { name: string; requests: number }[] };
  assert.deepEqual(s.by_model.map((m) => m.name), ['llama-3.1-8b', 'qwen3-32b']);
  assert.equal(s.by_model.reduce((a, m) => a + m.requests, 0), s.requests);
});
