import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSlo } from '../../src/metrics/slo.js';
import { enumerateCompositions, parseGpuChoices, type Composition } from '../../src/plan/space.js';
import { cellSpecFor, cheapestFeasible, paretoFrontier, pointFrom, searchPlan, workloadExtent, type PlanInput, type PlanPoint } from '../../src/plan/search.js';
import { InlineRunner } from '../../src/sweep/pool.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const TRACE = join(REPO_ROOT, 'traces', 'default.jsonl');

function point(costMicro: number, attainment: number, index: number, policyIndex = 0): PlanPoint {
  const comp: Composition = { index, counts: [index], costMicro, fleet: `x:${index}` };
  return { comp, policyIndex, policy: `p${policyIndex}`, costPerHour: costMicro / 1e6, attainment, goodputRps: 0, ttftP99Ms: 0, tpotP99Ms: 0, stage: 'search', spec: {} as PlanPoint['spec'] };
}

test('compositions, frontier and the cheapest feasible point on hand-checked cases', () => {
  const types = parseGpuChoices('a10:2,l20', 3);
  const comps = enumerateCompositions(types, 3);
  assert.deepEqual(comps.map((c) => c.fleet), ['l20:1', 'l20:2', 'l20:3', 'a10:1', 'a10:1,l20:1', 'a10:1,l20:2', 'a10:2', 'a10:2,l20:1']);
  assert.equal(comps[4].costMicro, 750_000 + 900_000);
  assert.throws(() => parseGpuChoices('l20,h900', 8), /--gpus h900: unknown GPU "h900"/);
  assert.throws(() => parseGpuChoices('l20,l20:2', 8), /l20 is listed twice/);

  const pts = [point(3, 0.5, 0), point(1, 0.2, 1), point(2, 0.9, 2), point(2, 0.95, 3, 1), point(4, 0.95, 4), point(5, 0.99, 5)];
  assert.deepEqual(paretoFrontier(pts).map((p) => p.comp.index), [1, 3, 5]);
  assert.equal(cheapestFeasible(pts, 0.9)?.comp.index, 3, 'same cost: the higher attainment');
  assert.equal(cheapestFeasible(pts, 0.99)?.comp.index, 5);
  assert.equal(cheapestFeasible(pts, 0.999), null);
  assert.equal(cheapestFeasible([point(2, 0.95, 7, 1), point(2, 0.95, 6, 3)], 0.9)?.comp.index, 6, 'full tie: enumeration order');
});

test('plan finds the exhaustive sweep\'s cheapest feasible configuration on a small space, simulating fewer', async () => {
  const workload = { trace: TRACE, rate: '12', limit: '300', seed: '42' };
  const slo = 'ttft_ms=1000,tpot_ms=60';
  const types = parseGpuChoices('a10:2,l20:2,l40s:1', 3);
  const policies = ['least-request', 'random'];
  const runner = new InlineRunner();
  const extent = await workloadExtent(workload);
  assert.equal(extent.requests, 300);
  const input: PlanInput = { workload, slo, sloSpec: parseSlo(slo), types, maxTotal: 3, policies, target: 0.95, scrapeIntervalS: 1, requests: extent.requests, arrivalSpanS: extent.arrivalSpanS, runner };
  const plan = await searchPlan(input);

  const all: PlanPoint[] = [];
  for (const comp of enumerateCompositions(types, 3)) {
    for (const [policyIndex, policy] of policies.entries()) {
      const spec = cellSpecFor(input, comp.fleet, policy);
      await runner.run([{ index: 0, spec }], (_i, o) => all.push(pointFrom(comp, policyIndex, policy, spec, o, 'search')));
    }
  }
  const exhaustive = cheapestFeasible(all, 0.95);
  assert.ok(exhaustive, 'the space holds a feasible configuration');
  assert.ok(plan.best);
  assert.equal(plan.best.comp.fleet, exhaustive.comp.fleet);
  assert.equal(plan.best.policy, exhaustive.policy);
  assert.equal(plan.best.attainment, exhaustive.attainment);
  // Not a trivial answer: cheaper fleets exist and fail the target.
  assert.ok(all.some((p) => p.comp.costMicro < exhaustive.comp.costMicro && p.attainment < 0.95));
  assert.ok(plan.points.length < all.length, `${plan.points.length} simulated of ${all.length}`);
  // The frontier is monotone in both cost and attainment, and includes the answer.
  for (let i = 1; i < plan.frontier.length; i++) {
    assert.ok(plan.frontier[i].comp.costMicro >= plan.frontier[i - 1].comp.costMicro);
    assert.ok(plan.frontier[i].attainment > plan.frontier[i - 1].attainment);
  }
  assert.ok(plan.frontier.includes(plan.best));
});

test('router plan CLI: frontier, the answer, a reproduce command that reproduces it, --out CSV and HTML; bad flags exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-plan-'));
  try {
    const r = runCli(['plan', '--trace', TRACE, '--rate', '12', '--limit', '200', '--slo', 'ttft_ms=1000,tpot_ms=60', '--gpus', 'a10,l20', '--max-gpus', '3', '--target-attainment', '0.9', '--jobs', '2', '--out', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Pareto frontier/);
    const m = /cheapest configuration meeting 90\.00% attainment: (\S+) with (\S+), \$[\d.]+\/hour \(attainment ([\d.]+)%/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const cmd = /^reproduce: router (.*)$/m.exec(r.stdout);
    assert.ok(cmd);
    const again = runCli([...cmd[1].split(' '), '--json']);
    assert.equal(again.status, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { slo_attainment: number };
    assert.equal((summary.slo_attainment * 100).toFixed(2), m[3]);
    const csv = readFileSync(join(dir, 'plan.csv'), 'utf8').trim().split('\n');
    assert.match(csv[0], /^cost_per_hour_usd,slo_attainment,goodput_rps,/);
    assert.equal(csv.filter((l) => l.endsWith(',true')).length, 1, 'one chosen row');
    const html = readFileSync(join(dir, 'plan.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.ok(html.includes(m[1]));

    const bad = runCli(['plan', '--trace', TRACE, '--slo', 'ttft_ms=1000', '--gpus', 'l20,h900']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--gpus h900: unknown GPU/);
    const badTarget = runCli(['plan', '--trace', TRACE, '--slo', 'ttft_ms=1000', '--gpus', 'l20', '--target-attainment', '99']);
    assert.equal(badTarget.status, 2);
    assert.match(badTarget.stderr, /--target-attainment: expected a fraction/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
