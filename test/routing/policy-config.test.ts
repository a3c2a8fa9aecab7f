import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { simulateFromFlags } from '../../src/cli/simulate.js';
import { requestsCsv } from '../../src/report/csv.js';
import { parseProfile } from '../../src/routing/plugins/profile.js';
import { policyFromConfig } from '../../src/routing/registry.js';
import { blockReq, ctx, range, workers } from './helpers.js';

const example = (f: string): string => join(REPO_ROOT, 'docs', 'examples', f);

test('the llm-d default profile file routes every request exactly as --policy weighted', async () => {
  const base = { fleet: 'l20:2,a10:2', policyOpt: [], seed: '42', scrapeInterval: '1', limit: '300' };
  const byName = await simulateFromFlags({ ...base, policy: 'weighted' });
  const byFile = await simulateFromFlags({ ...base, policy: 'least-request', policyConfig: example('llm-d-default.yaml') });
  assert.equal(byFile.summary.policy, 'llm-d-default');
  assert.equal(requestsCsv(byFile.log), requestsCsv(byName.log));
});

test('a new policy as a profile file, no TypeScript: router simulate and compare run it', () => {
  const r = runCli(['simulate', '--policy-config', example('prefix-balance.yaml'), '--fleet', 'l20:3', '--limit', '80', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { policy: string; requests: number; completed: number };
  assert.deepEqual([s.policy, s.requests, s.completed], ['prefix-balance', 80, 80]);
  const named = runCli(['simulate', '--policy-config', example('prefix-cache-tuned.json'), '--fleet', 'l20:2', '--limit', '40', '--json']);
  assert.equal(named.status, 0, named.stderr);
  assert.equal((JSON.parse(named.stdout) as { policy: string }).policy, 'prefix-cache');
  const cmp = runCli(['compare', '--policies', 'least-request', '--policy-config', example('prefix-balance.yaml'), '--fleet', 'l20:2', '--limit', '40', '--jobs', '1', '--format', 'csv']);
  assert.equal(cmp.status, 0, cmp.stderr);
  assert.match(cmp.stdout, /^least-request,/m);
  assert.match(cmp.stdout, /^prefix-balance,/m);
});

test('profile file mistakes are one-line user errors naming the file and field (exit 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-profile-'));
  try {
    const cases: [string, string, RegExp][] = [
      ['weight.yaml', 'name: p\nscorers:\n  - type: queue\n    weight: -1\n', /weight\.yaml: scorers\[0\]\.weight: expected a number ≥ 0, got -1$/],
      ['scorer.yaml', 'name: p\nscorers: [queue, nope]\n', /scorer\.yaml: scorers\[1\]: unknown scorer "nope" \(known: queue, kv-utilization, prefix/],
      ['range.yaml', 'name: p\nscorers:\n  - type: prefix\n    options: {block_size: 0}\n', /range\.yaml: scorers\[0\]\.options\.block_size: expected an integer ≥ 1, got 0$/],
      ['option.yaml', 'name: p\nscorers:\n  - type: queue\n    options: {depth: 3}\n', /option\.yaml: scorers\[0\]\.options\.depth: scorer queue has no option "depth" \(it takes no options\)$/],
      ['field.yaml', 'name: p\nscorer: [queue]\n', /field\.yaml: unknown field "scorer" \(expected name, description, filters, scorers, picker\)$/],
      ['named.json', '{"policy": "prefix-cache", "options": {"stddev_factor": -2}}', /named\.json: options\.stddev_factor: expected a number ≥ 0, got -2$/],
      ['bad.yaml', 'name: [unclosed\n', /bad\.yaml: not valid YAML/],
    ];
    for (const [file, text, expected] of cases) {
      writeFileSync(join(dir, file), text);
      const r = runCli(['simulate', '--policy-config', join(dir, file), '--limit', '5']);
      assert.equal(r.status, 2, `${file}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), expected);
    }
    const both = runCli(['simulate', '--policy-config', example('prefix-balance.yaml'), '--policy-opt', 'x=1', '--limit', '5']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--policy-opt: not with --policy-config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('profile: filters, weights and picker combine as declared (hand-checked)', () => {
  const ws = workers(3);
  ws[0].scraped = { running: 0, waiting: 9, kvUsage: 0.1, atS: 0 };
  ws[1].scraped = { running: 0, waiting: 0, kvUsage: 0.5, atS: 0 };
  ws[2].scraped = { running: 0, waiting: 3, kvUsage: 0.2, atS: 0 };
  const c = ctx();
  const doc = { name: 'p', filters: ['saturation'], scorers: [{ type: 'prefix', weight: 4 }, { type: 'queue', weight: 1 }] };
  const p = policyFromConfig(doc, 'inline');
  // worker 0 is saturated (9 waiting > 5): filtered out even though it holds the prefix.
  const r = blockReq(range(0, 8));
  p.onDispatch?.(r, ws[0], c);
  p.onDispatch?.(blockReq(range(0, 4)), ws[2], c);
  // prefix 4 × [-, 0, 0.5] + queue over {1, 2}: [-, 1, 0] → worker 2 (2 > 1)
  assert.equal(p.pick(blockReq(range(0, 8)), ws, c)?.worker, 2);
  assert.deepEqual(parseProfile({ name: 'x', scorers: ['kv'] }, 'inline'), {
    name: 'x',
    filters: [],
    scorers: [{ type: 'kv-utilization', weight: 1, options: {} }],
    picker: { type: 'max-score', options: {} },
  });
});
