import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { parseModelGpuProfile } from '../../src/routing/slo/profile.js';
import { AIBRIX_EXAMPLE_PROFILE } from './aibrix-example.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'router-slo-'));
const grid = ['--outputs', '16,128', '--inputs', '128,1024', '--rates', '1,4,16', '--samples', '40'];

test('profile export-aibrix sweeps the simulated engine into AIBrix tables; one file per deployment', () => {
  const dir = tmp();
  const one = join(dir, 'l20.json');
  let r = runCli(['profile', 'export-aibrix', '--fleet', 'l20:2', '--slo', 'e2e=5,percentile=99', '--out', one, ...grid]);
  assert.equal(r.status, 0, r.stderr);
  const p = parseModelGpuProfile(JSON.parse(readFileSync(one, 'utf8')), one);
  assert.equal(p.gpu, 'llama-3.1-8b@l20');
  assert.deepEqual(p.indexes, [[16, 128], [128, 1024]]);
  assert.deepEqual(p.slos, { percentile: 99, e2e: 5 });
  assert.equal(p.tputs.length, 2);
  // Short cells sustain the top rate; throughput is measured, so near (and at most ~1.1x) the rate.
  assert.ok(p.tputs[0][0] > 0.9 * 16 && p.tputs[0][0] < 1.1 * 16, `tput ${p.tputs[0][0]}`);
  assert.ok(p.e2e![0][0] > 0 && p.e2e![1][1] > p.e2e![0][0], 'longer cells take longer');
  assert.ok(p.created > 1.7e9);
  const multi = join(dir, 'multi');
  r = runCli(['profile', 'export-aibrix', '--fleet', 'a10:1,l20:2', '--slo', 'tpot_ms=50', '--out', multi, ...grid]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(multi).sort(), ['llama-3.1-8b@a10.json', 'llama-3.1-8b@l20.json']);
  assert.equal((JSON.parse(readFileSync(join(multi, 'llama-3.1-8b@a10.json'), 'utf8')) as { slos: { tpot: number } }).slos.tpot, 0.05);

  // Those tables drive the slo policy in simulate (no fallback note).
  r = runCli(['simulate', '--limit', '300', '--fleet', 'a10:1,l20:2', '--policy', 'slo', '--slo-profile', multi, '--slo', 'tpot_ms=50', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /fallback/);
  const s = JSON.parse(r.stdout) as { policy: string; requests: number; slo_attainment: number };
  assert.equal(s.policy, 'slo');
  assert.equal(s.requests, 300);
  assert.ok(s.slo_attainment > 0);
});

test('profile import-aibrix attaches tables to a deployment that a fleet file then uses', () => {
  const dir = tmp();
  const src = join(dir, 'a100.json');
  writeFileSync(src, JSON.stringify(AIBRIX_EXAMPLE_PROFILE));
  const dep = join(dir, 'l20-aibrix.json');
  let r = runCli(['profile', 'import-aibrix', src, '--profile', 'llama-3.1-8b@l20', '--out', dep]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /deployment llama-3\.1-8b@l20 with AIBrix tables "simulator-llama2-7b-a100" \(8x5\)/);
  const doc = JSON.parse(readFileSync(dep, 'utf8')) as { gpu: string; aibrix: unknown };
  assert.equal(doc.gpu, 'l20');
  assert.deepEqual(doc.aibrix, AIBRIX_EXAMPLE_PROFILE);
  const fleet = join(dir, 'fleet.json');
  writeFileSync(fleet, JSON.stringify({ workers: [{ profile: dep, count: 2 }] }));
  r = runCli(['simulate', '--limit', '200', '--fleet', fleet, '--policy', 'slo-pack-load', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /fallback/);
  r = runCli(['profile', 'import-aibrix', src, '--gpu', 'a10']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'llama-3.1-8b@a10');
});

test('SLO profile mistakes are one-line user errors', () => {
  const dir = tmp();
  const cases: [string[], RegExp][] = [
    [['simulate', '--policy', 'slo', '--slo-profile', join(dir, 'none.json')], /--slo-profile .*none\.json: no such file or directory/],
    [['profile', 'export-aibrix', '--fleet', 'l20', '--slo', 'latency=3'], /--slo "latency=3": expected key=value/],
    [['profile', 'export-aibrix', '--fleet', 'l20', '--slo', 'e2e=5', '--rates', '4,2'], /--rates: values must increase/],
    [['profile', 'import-aibrix', join(dir, 'x.json')], /give exactly one of --profile NAME or --gpu ID/],
    [['simulate', '--policy', 'slo', '--policy-opt', 'predictor=psychic'], /predictor \(policy slo\): expected histogram or oracle/],
  ];
  const other = join(dir, 'other.json');
  writeFileSync(other, JSON.stringify({ ...AIBRIX_EXAMPLE_PROFILE, gpu: 'h200' }));
  cases.push([['simulate', '--policy', 'slo', '--fleet', 'l20', '--slo-profile', other], /SLO profile "h200" matches no worker's deployment or GPU \(fleet: llama-3\.1-8b@l20 \(gpu l20\)\)/]);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"gpu":"l20","tputs":[[1]],"indexes":[[4],[128,256]]}');
  cases.push([['simulate', '--policy', 'slo', '--fleet', 'l20', '--slo-profile', broken], /broken\.json: tputs\[0\]: expected 2 cells/]);
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // A table without an e2e table truly cannot drive the load model: then (only then) the fallback note.
  const old = join(dir, 'no-e2e.json');
  const { e2e: _e2e, ...noE2e } = AIBRIX_EXAMPLE_PROFILE;
  writeFileSync(old, JSON.stringify({ ...noE2e, gpu: 'l20' }));
  const r = runCli(['simulate', '--limit', '50', '--policy', 'slo', '--fleet', 'l20', '--slo-profile', old]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /no worker's AIBrix SLO tables have an e2e table .* so slo routes everything through its fallback/);
});

test('slo with no set-up derives tables once, caches them by content hash, and names the default SLO', () => {
  const cache = tmp();
  const env = { ROUTER_CACHE_DIR: cache };
  const out1 = join(cache, 'run1');
  const out2 = join(cache, 'run2');
  const args = ['simulate', '--limit', '200', '--fleet', 'a10:1,l20:1', '--policy', 'slo'];
  const first = runCli([...args, '--out', out1], { env });
  assert.equal(first.status, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /fallback/);
  assert.match(first.stderr, /default SLO tpot_ms=50,percentile=99/);
  assert.match(first.stderr, /deriving SLO tables \(computed tokens\) for llama-3\.1-8b@a10 /);
  assert.match(first.stderr, /deriving SLO tables \(cached context\) for llama-3\.1-8b@l20 /);
  assert.match(first.stdout, /SLO attainment .*\(SLO tpot_ms=50,percentile=99 \(default\)\)/);
  const cached = readdirSync(join(cache, 'slo-tables'));
  assert.equal(cached.length, 4, 'two tables (computed tokens, cached context) per deployment');
  const second = runCli([...args, '--out', out2], { env });
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /deriving/, 'the second run reads the cache');
  assert.deepEqual(readdirSync(join(cache, 'slo-tables')), cached);
  assert.equal(readFileSync(join(out2, 'requests.csv'), 'utf8'), readFileSync(join(out1, 'requests.csv'), 'utf8'));
  // Another SLO is another table; --slo names it without "(default)".
  const third = runCli([...args, '--slo', 'tpot_ms=80', '--json'], { env });
  assert.equal(third.status, 0, third.stderr);
  assert.match(third.stderr, /deriving SLO tables \(computed tokens\) for llama-3\.1-8b@a10 /);
  assert.equal((JSON.parse(third.stdout) as { slo: string }).slo, 'tpot_ms=80,percentile=99');
  assert.equal(readdirSync(join(cache, 'slo-tables')).length, 8);
});
