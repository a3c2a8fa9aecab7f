import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareJobs, runParallel, runSequential, type CompareFlags } from '../../src/cli/compare.js';
import { runCli } from '../helpers/cli.js';

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { GITHUB_STEP_SUMMARY: '', ...env } });

function flags(over: Partial<CompareFlags>): CompareFlags {
  return { fleet: [], policyOpt: [], seed: '42', scrapeInterval: '1', format: 'text', limit: '300', ...over };
}

test('compare on worker threads gives exactly the sequential results (no wall time in the rows)', async () => {
  const jobs = compareJobs(flags({ policies: 'least-request,random,power-of-two', fleet: ['l20:2', 'l20:3'] }));
  assert.deepEqual(jobs.map((j) => j.run), ['least-request@l20:2', 'random@l20:2', 'power-of-two@l20:2', 'least-request@l20:3', 'random@l20:3', 'power-of-two@l20:3']);
  const par = await runParallel(jobs, 2);
  const seq = await runSequential(jobs);
  assert.ok(!('wall_s' in par[0].values), 'wall time is not a summary.csv column');
  assert.deepEqual(par, seq);
  // Different policies really differ, so the equality above means something.
  assert.notEqual(par[0].values.ttft_ms_p99, par[1].values.ttft_ms_p99);
});

test('router compare: markdown table on stdout and in $GITHUB_STEP_SUMMARY; --fail-on exit codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-compare-'));
  try {
    const ok = run(['compare', '--policies', 'least-request,random', '--limit', '300', '--format', 'markdown', '--out', dir], { GITHUB_STEP_SUMMARY: join(dir, 'step.md') });
    assert.equal(ok.status, 0, ok.stderr);
    const lines = ok.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^\| run \| completed \| rejected \| ttft_ms_p50 \| ttft_ms_p99 \|/);
    assert.match(lines[2], /^\| least-request \| 300 \| 0 \|/);
    assert.match(lines[3], /^\| random \| 300 \| 0 \|/);
    assert.ok(ok.stdout.includes('**'), 'best values are bold');
    const step = readFileSync(join(dir, 'step.md'), 'utf8');
    assert.equal(step, `### router compare\n\n${ok.stdout.trim()}\n\n`);
    const saved = join(dir, 'compare.csv');

    // Saved results compared with themselves: no change, exit 0.
    const same = run(['compare', saved, '--baseline', saved, '--fail-on', 'p99_ttft_ms>+10%,throughput_rps<-5%']);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /^run\s+completed/);

    // random's p99 TTFT is more than 1% above least-request's on this trace: the rule names it and exits 1.
    const leastOnly = join(dir, 'least');
    assert.equal(run(['compare', '--policies', 'least-request', '--limit', '300', '--out', leastOnly]).status, 0);
    const bad = run(['compare', '--policies', 'random', '--limit', '300', '--baseline', join(leastOnly, 'compare.csv'), '--fail-on', 'p99_ttft_ms>+1%']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^router: --fail-on: p99_ttft_ms>\+1% violated by random: ttft_ms_p99 = [\d.]+ vs baseline [\d.]+ \(\+[\d.]+%\)$/m);

    // User mistakes exit 2 with one line.
    const unknown = run(['compare', '--fail-on', 'p99_latency>+1%']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^router: --fail-on: rule "p99_latency>\+1%": unknown metric "p99_latency"/);
    const policy = run(['compare', '--policies', 'random,nope', '--limit', '50']);
    assert.equal(policy.status, 2);
    assert.match(policy.stderr, /^router: --policy nope: unknown policy \(known: .*random/);
    assert.equal(policy.stdout, '');
    // The CI gate on goodput without an SLO has nothing to check: an error, not a silent pass.
    const gate = run(['compare', saved, '--fail-on', 'goodput_rps<5']);
    assert.equal(gate.status, 2, gate.stderr);
    assert.equal(gate.stderr.trim(), 'router: --fail-on: rule "goodput_rps<5": goodput_rps has no value for run least-request (goodput and SLO attainment need an SLO: pass --slo)');
    const gated = run(['compare', '--policies', 'least-request', '--limit', '100', '--slo', 'ttft_ms=100000', '--fail-on', 'goodput_rps<0.001']);
    assert.equal(gated.status, 0, gated.stderr);
    const fmt = run(['compare', saved, '--format', 'html']);
    assert.equal(fmt.status, 2);
    assert.equal(fmt.stderr.trim(), 'router: --format: expected one of text, markdown, csv, json, got "html"');
    const missing = run(['compare', join(dir, 'nope.csv')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope\.csv: cannot read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate and compare define their shared simulation flags once: same flags, help and defaults', async () => {
  const { Command } = await import('commander');
  const { registerSimulate } = await import('../../src/cli/simulate.js');
  const { registerCompare } = await import('../../src/cli/compare.js');
  const program = new Command();
  registerSimulate(program);
  registerCompare(program);
  const opts = (name: string) => new Map((program.commands.find((c) => c.name() === name)?.options ?? []).map((o) => [o.long, o]));
  const sim = opts('simulate');
  const cmp = opts('compare');
  for (const flag of ['--trace', '--policy-opt', '--seed', '--scrape-interval', '--slo', '--slo-profile']) {
    const a = sim.get(flag);
    const b = cmp.get(flag);
    assert.ok(a && b, `${flag} in both`);
    assert.deepEqual([b.flags, b.description, b.defaultValue, b.defaultValueDescription], [a.flags, a.description, a.defaultValue, a.defaultValueDescription], flag);
  }
  assert.ok(cmp.get('--fleet')?.description.startsWith(sim.get('--fleet')?.description ?? '?'), 'compare --fleet extends simulate --fleet');
});

test('compare --help shows each default once (no "(default: [])" after a default in the text)', () => {
  const r = runCli(['compare', '--help']);
  assert.equal(r.status, 0, r.stderr);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.doesNotMatch(help, /\(default: \[\]\)/);
  assert.match(help, /--fleet <spec> workers: .*repeatable to compare fleets \(default: l20:4\)/);
  assert.equal((help.match(/default: l20:4/g) ?? []).length, 1);
});
