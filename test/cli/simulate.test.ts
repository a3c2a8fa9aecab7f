import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { CLI, REPO_ROOT } from '../helpers/fixtures.js';
import { REQUEST_COLUMNS } from '../../src/report/csv.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'router-test-'));

test('`router simulate` with no flags prints a summary on the shipped trace, from any directory', () => {
  const r = runCli(['simulate', '--limit', '300'], { cwd: tmp() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /policy least-request: 300\/300 completed/);
  assert.match(r.stdout, /TTFT/);
  assert.match(r.stdout, /l20-3/);
});

test('the built `router` bin is executable, so `npx router` runs it after `npm ci`', () => {
  assert.ok((statSync(CLI).mode & 0o111) !== 0, `${CLI} is not executable`);
});

test('--json prints the documented keys; --out writes the three reports', () => {
  const dir = tmp();
  const r = runCli(['simulate', '--limit', '200', '--fleet', 'l20:2,a10:1', '--policy', 'round-robin', '--json', '--out', dir, '--slo', 'ttft_ms=500,tpot_ms=80']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of ['requests', 'completed', 'rejected', 'duration_s', 'wall_s', 'ttft_ms', 'tpot_ms', 'e2e_ms', 'queue_ms', 'itl_ms', 'throughput_rps', 'output_tokens_per_s', 'total_tokens_per_s', 'goodput_rps', 'slo_attainment', 'prefix_hit_rate', 'imbalance', 'cost_usd', 'workers']) {
    assert.ok(k in s, `missing ${k}`);
  }
  for (const k of ['ttft_ms', 'tpot_ms', 'e2e_ms', 'queue_ms', 'itl_ms']) assert.deepEqual(Object.keys(s[k] as object), ['mean', 'p50', 'p90', 'p99', 'std']);
  // ITL from every sampled token's gap: at least the fastest decode step, its mean near TPOT's
  // (TPOT averages per request, ITL per gap, so they differ by weighting only).
  const itl = s.itl_ms as { mean: number; p50: number; p99: number };
  const tpot = s.tpot_ms as { mean: number };
  assert.ok(itl.p50 > 0 && itl.p99 >= itl.p50, JSON.stringify(itl));
  assert.ok(Math.abs(itl.mean / tpot.mean - 1) < 0.25, `ITL mean ${itl.mean} vs TPOT mean ${tpot.mean}`);
  assert.ok((s.total_tokens_per_s as number) > (s.output_tokens_per_s as number));
  assert.equal(s.requests, 200);
  assert.equal((s.workers as unknown[]).length, 3);
  assert.equal(typeof s.slo_attainment, 'number');
  const header = readFileSync(join(dir, 'requests.csv'), 'utf8').split('\n')[0];
  assert.equal(header, REQUEST_COLUMNS.join(','));
  assert.equal(readFileSync(join(dir, 'requests.csv'), 'utf8').trim().split('\n').length, 201);
  assert.match(readFileSync(join(dir, 'timeseries.csv'), 'utf8'), /^t_s,worker,running,waiting,kv_usage/);
  assert.match(readFileSync(join(dir, 'summary.csv'), 'utf8'), /^policy,requests,completed/);
});

test('same seed → byte-identical reports (requests, summary, timeseries) through the CLI; wall time only on stdout', () => {
  const [a, b] = [tmp(), tmp()];
  for (const d of [a, b]) assert.equal(runCli(['simulate', '--limit', '300', '--policy', 'random', '--seed', '9', '--out', d]).status, 0);
  for (const f of ['requests.csv', 'summary.csv', 'timeseries.csv']) {
    assert.equal(readFileSync(join(a, f), 'utf8'), readFileSync(join(b, f), 'utf8'), `${f} differs between two runs with the same seed`);
  }
  assert.doesNotMatch(readFileSync(join(a, 'summary.csv'), 'utf8').split('\n')[0], /wall/);
});

function expectUserError(args: string[], pattern: RegExp, outDir?: string): void {
  const r = runCli(args);
  assert.equal(r.status, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  if (outDir) assert.deepEqual(readdirSync(outDir).filter((f) => !f.startsWith('keep')), [], 'no partial report');
}

test('bad input: one-line error naming the place, exit 2, no partial report, old reports kept', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'keep.csv'), 'old');
  const trace = join(dir, 'bad.jsonl');
  writeFileSync(trace, '{"arrival_s":0,"input_tokens":10,"output_tokens":5}\n{"arrival_s":1,"input_tokens":"ten","output_tokens":5}\n');
  const out = join(dir, 'out');
  expectUserError(['simulate', '--trace', trace, '--out', out], /bad\.jsonl:2: field "input_tokens": expected an integer >= 1, got "ten"/);
  assert.equal(existsSync(out), false);
  assert.equal(readFileSync(join(dir, 'keep.csv'), 'utf8'), 'old');
  writeFileSync(trace, '{"arrival_s":0,"input_tokens":10,"output_tokens":5}\nnot json\n');
  expectUserError(['simulate', '--trace', trace], /bad\.jsonl:2: not valid JSON/);
  expectUserError(['simulate', '--fleet', 'z9000:2'], /unknown GPU "z9000"/);
  expectUserError(['simulate', '--fleet', 'l20:x'], /--fleet "l20:x": expected GPU\[:COUNT\]/);
  expectUserError(['simulate', '--policy', 'nope'], /--policy nope: unknown policy/);
  expectUserError(['simulate', '--slo', 'ttft=3'], /--slo "ttft=3"/);
  expectUserError(['simulate', '--trace', join(dir, 'missing.jsonl')], /missing\.jsonl: cannot open trace/);
  const fleet = join(dir, 'fleet.json');
  writeFileSync(fleet, JSON.stringify({ workers: [{ gpu: 'l20', count: 2 }, { gpu: 'a10', engine: { max_num_seqs: -1 } }] }));
  expectUserError(['simulate', '--fleet', fleet], /fleet\.json: workers\[1\]\.engine\.max_num_seqs: expected a positive integer, got -1/);
  writeFileSync(fleet, JSON.stringify({ workers: [{ count: 2 }] }));
  expectUserError(['simulate', '--fleet', fleet], /workers\[0\]\.gpu: required/);
  const yaml = join(dir, 'fleet.yaml');
  writeFileSync(yaml, 'workers:\n  - gpu: l20\n    colour: blue\n');
  expectUserError(['simulate', '--fleet', yaml], /workers\[0\]\.colour: unknown field/);
  expectUserError(['simulate', '--bogus'], /unknown option/);
});

test('a YAML fleet file with engine overrides runs', () => {
  const dir = tmp();
  const yaml = join(dir, 'fleet.yaml');
  writeFileSync(yaml, 'workers:\n  - gpu: l20\n    count: 2\n    engine:\n      max_num_seqs: 64\n  - gpu: h100-sxm\n    name: big\n');
  const r = runCli(['simulate', '--limit', '100', '--fleet', yaml, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { workers: { name: string }[] };
  assert.deepEqual(s.workers.map((w) => w.name), ['l20-0', 'l20-1', 'big']);
});

test('`router profile show` prints the required shipped profiles', () => {
  const names = ['rtx-4090', 'a10', 'l20', 'l40s', 'a100-80g-sxm', 'h100-sxm', 'rtx-pro-6000-bse'].map((g) => `llama-3.1-8b@${g}`);
  names.push('qwen3-32b@h100-sxm-tp2', 'qwen3-32b@rtx-pro-6000-bse-tp2');
  const list = runCli(['profile', 'list']).stdout.split('\n').map((l) => l.split(/\s+/)[0]);
  for (const n of names) {
    assert.ok(list.includes(n), `${n} listed`);
    const r = runCli(['profile', 'show', n]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`profile ${n.replace(/[.@]/g, '\\$&')}`));
    assert.match(r.stdout, /kv cache\s+\d+ blocks/);
  }
  assert.match(runCli(['profile', 'show', 'llama-3.1-8b@rtx-4090']).stdout, /2588 blocks = 41408 tokens \(profile\)/);
  assert.equal(runCli(['profile', 'show', 'nope']).status, 2);
  assert.ok(existsSync(join(REPO_ROOT, 'profiles', 'coefficients.json')));
});

test("a prompt (+ output) beyond the model's context is rejected with the reason, as a vLLM worker answers 400", () => {
  const dir = tmp();
  const trace = join(dir, 'ctx.jsonl');
  writeFileSync(
    trace,
    [
      '{"id":"small","arrival_s":0,"input_tokens":100,"output_tokens":5}',
      '{"id":"huge","arrival_s":0.5,"input_tokens":200000,"output_tokens":5}',
      // 131,000 + 100 > 131,072: the output counts too, as in vLLM's check.
      '{"id":"edge","arrival_s":1,"input_tokens":131000,"output_tokens":100}',
    ].join('\n') + '\n',
  );
  const r = runCli(['simulate', '--trace', trace, '--fleet', 'l20:1', '--json', '--out', join(dir, 'out')]);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { requests: number; completed: number; rejected: number };
  assert.deepEqual([s.requests, s.completed, s.rejected], [3, 1, 2]);
  const rows = readFileSync(join(dir, 'out', 'requests.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.deepEqual(rows.map((c) => [c[0], c[c.length - 1]]), [['small', 'ok'], ['huge', 'rejected'], ['edge', 'rejected']]);
  assert.match(r.stderr, /^router: 2 requests rejected, e\.g\. huge: prompt \+ output \(200000 \+ 5 tokens\) exceed the model's maximum context length \(131072 tokens\) \| edge: prompt \+ output \(131000 \+ 100 tokens\) exceed the model's maximum context length \(131072 tokens\)$/m);
});
