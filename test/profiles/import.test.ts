import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { sharedDataDir } from '../helpers/fixtures.js';
import { isotonic } from '../../src/profiles/import/vidur.js';

const data = sharedDataDir();
const ops = data ? join(data, 'operator-profiles') : '';
const skip = data ? false : 'shared/data not found beside the checkout';

test('isotonic: a non-decreasing least-squares fit that averages violators', () => {
  assert.deepEqual(isotonic([1, 3, 2, 4]), [1, 2.5, 2.5, 4]);
  assert.deepEqual(isotonic([5, 1, 1]), [7 / 3, 7 / 3, 7 / 3]);
});

test('profile import --from llmservingsim: a measured profile that show/list/simulate accept', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-import-'));
  try {
    const out = join(dir, 'p.json');
    const r = runCli(['profile', 'import', join(ops, 'llmservingsim', 'rtx4090', 'Llama-3.1-8B'), '--from', 'llmservingsim', '--name', 'mine', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /speed model\s+measured operator tables \(llmservingsim\)/);
    assert.match(r.stdout, /attention\s+measured \(llmservingsim grid\)/);
    const file = JSON.parse(readFileSync(out, 'utf8')) as { gpu: string; model: string; source: string; operators: { attention: { us: number[] } } };
    assert.equal(file.gpu, 'rtx-4090');
    assert.equal(file.model, 'llama-3.1-8b');
    assert.match(file.source, /MIT License/);
    // The full 9 × 12 × 10 × 12 grid (missing 256-decode mixed points continued from 64 and 128).
    assert.equal(file.operators.attention.us.length, 9 * 12 * 10 * 12);
    const fleet = join(dir, 'fleet.json');
    writeFileSync(fleet, JSON.stringify({ workers: [{ name: 'w', profile: out }] }));
    const sim = runCli(['simulate', '--fleet', fleet, '--limit', '20', '--json']);
    assert.equal(sim.status, 0, sim.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('profile import --from vidur: per-op tables at the TP degree asked for, shapes checked against the model', { skip }, () => {
  const r = runCli(['profile', 'import', join(ops, 'vidur', 'compute', 'h100', 'Llama-2-7b-hf'), '--from', 'vidur', '--tp', '2']);
  assert.equal(r.status, 0, r.stderr);
  const file = JSON.parse(r.stdout) as { name: string; gpu: string; tp: number; operators: { origin: string; per_layer: { tokens: number[] } } };
  assert.equal(file.name, 'llama-2-7b@h100-sxm-tp2');
  assert.equal(file.operators.origin, 'vidur');
  assert.ok(file.operators.per_layer.tokens.length > 100);
  // Wrong model: its shapes do not match the file's, one line, exit 2.
  const bad = runCli(['profile', 'import', join(ops, 'vidur', 'compute', 'h100', 'Llama-2-7b-hf'), '--from', 'vidur', '--model', 'llama-3.1-8b']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^router: .*mlp\.csv: n_kv_head is 32 but model llama-3.1-8b has 8 \(pick the matching --model\)\n$/);
});

test('profile import: a directory without profiler files or an unknown format is one clear line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-import-'));
  try {
    const r = runCli(['profile', 'import', dir, '--from', 'llmservingsim']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^router: .*meta\.yaml: missing \(an LLMServingSim profile directory holds/);
    const f = runCli(['profile', 'import', dir, '--from', 'splitwise']);
    assert.equal(f.status, 2);
    assert.equal(f.stderr.trim(), 'router: --from: expected "llmservingsim" or "vidur", got "splitwise"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
