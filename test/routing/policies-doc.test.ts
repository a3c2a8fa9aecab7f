import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { policiesMarkdown } from '../../src/cli/policies.js';
import { policyFactories } from '../../src/routing/registry.js';
import { pluginDefs } from '../../src/routing/plugins/registry.js';

const BEGIN = '<!-- BEGIN router policies --markdown -->\n';
const END = '<!-- END router policies --markdown -->';

test('docs/policies.md carries the option reference generated from the schemas (regenerate: router policies --markdown)', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'policies.md'), 'utf8');
  const at = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  assert.ok(at >= 0 && end > at, 'markers present');
  assert.equal(doc.slice(at + BEGIN.length, end), policiesMarkdown());
});

test('router policies --json lists every policy and plugin with its typed option schema', () => {
  const r = runCli(['policies', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    policies: { name: string; kind: string; profile?: { scorers: { type: string; weight: number }[] }; options: { name: string; type: string; default: unknown; min?: number; accepts: string }[] }[];
    scorers: { type: string }[];
    filters: { type: string }[];
    pickers: { type: string }[];
  };
  assert.deepEqual(j.policies.map((p) => p.name), policyFactories().map((f) => f.name));
  assert.deepEqual(j.scorers.map((p) => p.type), pluginDefs('scorer').map((p) => p.type));
  assert.deepEqual(j.filters.map((p) => p.type), ['saturation', 'model']);
  assert.deepEqual(j.pickers.map((p) => p.type), ['max-score', 'weighted-random', 'random']);
  const lk = j.policies.find((p) => p.name === 'least-kv-cache');
  assert.equal(lk?.kind, 'preset');
  assert.deepEqual(lk?.profile?.scorers, [{ type: 'kv-utilization', weight: 1 }]);
  const ca = j.policies.find((p) => p.name === 'cache-aware');
  assert.equal(ca?.kind, 'hand-written');
  assert.deepEqual(ca?.options.find((o) => o.name === 'cache_threshold'), {
    name: 'cache_threshold',
    type: 'number',
    default: 0.3,
    min: 0,
    max: 1,
    accepts: 'a number in [0, 1]',
    description: 'minimum matched fraction of the prompt to follow the cache',
  });
});

test('an option out of its declared range is a one-line error naming the option and the range (exit 2)', () => {
  const r = runCli(['simulate', '--policy', 'prefix-cache', '--policy-opt', 'block_size=0', '--limit', '5']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'router: --policy-opt block_size (policy prefix-cache): expected an integer ≥ 1, got "0"');
  const e = runCli(['simulate', '--policy', 'consistent-hash', '--policy-opt', 'key=tenant', '--limit', '5']);
  assert.equal(e.status, 2);
  assert.equal(e.stderr.trim(), 'router: --policy-opt key (policy consistent-hash): expected one of session, user, got "tenant"');
});
