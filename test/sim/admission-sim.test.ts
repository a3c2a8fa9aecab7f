import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import type { FleetWorker } from '../../src/profiles/fleet.js';
import { createPolicy } from '../../src/routing/registry.js';
import { Admission } from '../../src/routing/admission/admission.js';
import { parseAdmissionConfig } from '../../src/routing/admission/config.js';
import { SimAdmission } from '../../src/sim/admission.js';
import { Simulation, type SimulationResult } from '../../src/sim/simulator.js';
import { createRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const CLASSES = ['critical', 'standard', 'sheddable'] as const;

/** Poisson arrivals at `rate`, 20/50/30 % critical/standard/sheddable; sheddable from tenant "batch". */
function overload(n: number, rate: number): Request[] {
  const rng = createRng('admission-sim');
  let t = 0;
  return Array.from({ length: n }, (_, i) => {
    t += -Math.log(1 - rng.next()) / rate;
    const u = rng.next();
    const priority = u < 0.2 ? CLASSES[0] : u < 0.7 ? CLASSES[1] : CLASSES[2];
    return { id: `r${i}`, arrivalS: t, inputTokens: 200 + rng.int(600), outputTokens: 50 + rng.int(150), priority, tenant: priority === 'sheddable' ? 'batch' : 'web' };
  });
}

const fleet = (): FleetWorker[] => [{ name: 'w0', deployment: resolveDeployment({ gpu: 'l20', model: 'llama-3.1-8b', where: 'test' }) }];

async function simulate(requests: Request[], doc: unknown): Promise<{ r: SimulationResult; sim: Simulation; adm: Admission }> {
  const adm = new Admission(parseAdmissionConfig(doc, 'test'), 0);
  const sim = new Simulation({ fleet: fleet(), policy: createPolicy('least-request'), requests, seed: 5, scrapeIntervalS: 0.5, timeseriesIntervalS: 10, slo: { ttftMs: 1500, percentile: 99 }, admission: new SimAdmission(adm) });
  return { r: await sim.run(), sim, adm };
}

const strict = { priorities: { max_in_flight: 24, queue_max: 20, queue_timeout_s: 8 }, tenants: { batch: { requests_per_s: 2, burst_requests: 4 } } };

test('simulate with classes and quotas is deterministic: the same requests end the same way', async () => {
  const a = await simulate(overload(1500, 8), strict);
  const b = await simulate(overload(1500, 8), strict);
  assert.deepEqual(a.r.summary.by_priority, b.r.summary.by_priority);
  assert.deepEqual(a.r.summary.by_tenant, b.r.summary.by_tenant);
  assert.deepEqual(a.sim.log.ids, b.sim.log.ids);
  assert.deepEqual(a.sim.log.statuses, b.sim.log.statuses);
  assert.deepEqual(a.sim.log.reasons, b.sim.log.reasons);
  assert.deepEqual(a.adm.classes.preempted, b.adm.classes.preempted);
});

test('simulate under overload: critical keeps its SLO, sheddable absorbs the loss; every request ends once; rejections are misses', async () => {
  const reqs = overload(1500, 8);
  const { r, sim } = await simulate(reqs, strict);
  const fifo = await simulate(reqs, { ...strict, priorities: { ...strict.priorities, dequeue: 'fifo' } });
  const by = new Map((r.summary.by_priority ?? []).map((g) => [g.name, g]));
  const byFifo = new Map((fifo.r.summary.by_priority ?? []).map((g) => [g.name, g]));
  const att = (m: typeof by, c: string): number => m.get(c)?.slo_attainment ?? NaN;
  assert.ok(att(by, 'critical') > 0.9, `critical ${att(by, 'critical')}`);
  assert.ok(att(by, 'critical') > att(byFifo, 'critical') + 0.2, `critical ${att(by, 'critical')} vs FIFO ${att(byFifo, 'critical')}`);
  assert.ok(att(by, 'sheddable') < att(by, 'standard') && att(by, 'standard') < att(by, 'critical'));
  // Every request has exactly one record.
  assert.equal(sim.log.length, reqs.length);
  assert.equal(new Set(sim.log.ids).size, reqs.length);
  // Rejected ones (quota 429, queue 429, pre-empted 503) are SLO misses.
  let quota = 0;
  let preempted = 0;
  for (let i = 0; i < sim.log.length; i++) {
    if (sim.log.statuses[i] !== 'rejected') continue;
    assert.equal(sim.log.sloMet.get(i), 0);
    const why = sim.log.reasons[i] ?? '';
    if (/tenant batch is over its requests_per_s quota/.test(why)) quota++;
    if (/pre-empted/.test(why)) preempted++;
  }
  assert.ok(quota > 0 && preempted > 0, `quota ${quota}, pre-empted ${preempted}`);
  const batch = (r.summary.by_tenant ?? []).find((g) => g.name === 'batch');
  assert.ok(batch && batch.rejected_429 >= quota);
});

test('simulate --tenants: classes from --mix priority=, the priority table, and a one-line error for an unknown class', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-tenants-'));
  try {
    const trace = join(dir, 't.jsonl');
    writeFileSync(trace, Array.from({ length: 40 }, (_, i) => JSON.stringify({ arrival_s: i * 0.05, input_tokens: 300, output_tokens: 40, priority: i % 4 === 0 ? 'critical' : 'sheddable' })).join('\n') + '\n');
    const cfg = join(dir, 'tenants.yaml');
    writeFileSync(cfg, 'priorities:\n  max_in_flight: 4\n  dequeue: weighted\n');
    const ok = spawnSync(process.execPath, [CLI, 'simulate', '--trace', trace, '--fleet', 'l20', '--tenants', cfg, '--no-tui', '--json'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const summary = JSON.parse(ok.stdout) as { by_priority?: { name: string; requests: number }[] };
    assert.deepEqual(summary.by_priority?.map((g) => [g.name, g.requests]), [['critical', 10], ['sheddable', 30]]);
    writeFileSync(join(dir, 'bad.jsonl'), JSON.stringify({ arrival_s: 0, input_tokens: 10, output_tokens: 5, priority: 'gold' }) + '\n');
    const bad = spawnSync(process.execPath, [CLI, 'simulate', '--trace', join(dir, 'bad.jsonl'), '--fleet', 'l20', '--tenants', cfg, '--no-tui'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /priority "gold" is not a class of the --tenants file \(expected one of critical, standard, sheddable\)/);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    writeFileSync(join(dir, 'bad.yaml'), 'priorities:\n  dequeue: fair\n');
    const badCfg = spawnSync(process.execPath, [CLI, 'simulate', '--trace', trace, '--fleet', 'l20', '--tenants', join(dir, 'bad.yaml'), '--no-tui'], { encoding: 'utf8' });
    assert.equal(badCfg.status, 2);
    assert.match(badCfg.stderr, /bad\.yaml: priorities\.dequeue: expected strict, weighted or fifo, got "fair"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
