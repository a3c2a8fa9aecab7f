import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

test('README commands run from a checkout: no bare `router ...` in its code blocks (npx router)', () => {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 3);
  const bare = blocks.flatMap((b) => b.split('\n')).filter((l) => /^\s*router\s/.test(l));
  assert.deepEqual(bare, []);
  assert.match(readme, /npm link/);
});

test("README's Node version is package.json's engines", () => {
  const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const min = /^>=(\d+\.\d+\.\d+)$/.exec(engines)?.[1];
  assert.ok(min, engines);
  const said = /Node\.js ≥ (\S+?) is required/.exec(readme)?.[1];
  assert.equal(said, min);
});

test('--fleet MODEL@GPU that is not a shipped profile lists the shipped profiles', () => {
  const r = runCli(['simulate', '--fleet', 'qwen3-32b@a10', '--limit', '3']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^router: --fleet qwen3-32b@a10: no shipped profile "qwen3-32b@a10" \(shipped: [^)]*qwen3-32b@h100-sxm-tp2[^)]*\); or give a GPU id \([^)]*l20[^)]*\) or a fleet file\n$/);
});
