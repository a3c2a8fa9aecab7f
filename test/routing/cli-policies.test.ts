import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyFactories } from '../../src/routing/registry.js';

const root = resolve(join(fileURLToPath(import.meta.url), '..', '..', '..', '..'));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [cli, ...args], { cwd: root }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('router policies lists every registered policy with its options', async () => {
  const r = await run(['policies']);
  assert.equal(r.code, 0);
  const names = policyFactories().map((f) => f.name);
  assert.ok(names.length >= 15);
  for (const f of policyFactories()) {
    assert.match(r.stdout, new RegExp(`^${f.name} +\\S`, 'm'));
    for (const o of f.options) assert.ok(r.stdout.includes(`${o.name}=${String(o.default)}`), `${f.name} ${o.name}`);
  }
});

test('every policy runs under router simulate on a small trace', async () => {
  const names = policyFactories().map((f) => f.name);
  // two at a time: the machine has two cores
  for (let i = 0; i < names.length; i += 2) {
    const batch = names.slice(i, i + 2);
    const results = await Promise.all(batch.map((n) => run(['simulate', '--policy', n, '--fleet', 'l20:3', '--limit', '60', '--json'])));
    results.forEach((r, k) => {
      assert.equal(r.code, 0, `${batch[k]}: ${r.stderr}`);
      const s = JSON.parse(r.stdout) as { policy: string; completed: number; requests: number };
      assert.equal(s.policy, batch[k]);
      assert.equal(s.requests, 60);
      assert.equal(s.completed, 60);
    });
  }
});

test('policy options from the CLI: the weighted spec parses, mistakes are one-line user errors', async () => {
  const ok = await run(['simulate', '--policy', 'weighted', '--policy-opt', 'scorers=prefix:3,queue:2,kv:2', '--policy-opt', 'picker=weighted-random', '--fleet', 'l20:2', '--limit', '20', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const bad = await run(['simulate', '--policy', 'weighted', '--policy-opt', 'scorers=prefix:3,nope:2', '--limit', '5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^router: --policy-opt scorers \(policy weighted\): unknown scorer "nope"/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  const range = await run(['simulate', '--policy', 'cache-aware', '--policy-opt', 'cache_threshold=2', '--limit', '5']);
  assert.equal(range.code, 2);
  assert.match(range.stderr, /cache_threshold \(policy cache-aware\): expected a number in \[0, 1\]/);
});
