import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

test('CLI: simulate a disaggregated fleet; the summary splits prefill and decode and shows transfers', () => {
  const r = runCli(['simulate', '--fleet', 'prefill=l20:1;decode=l20:2', '--prefill-policy', 'round-robin', '--decode-policy', 'least-request', '--pd-threshold', '64', '--limit', '200', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { completed: number; requests: number; pd: { disaggregated: number; local: number; threshold_tokens: number; transfer_ms: { mean: number } }; workers: { name: string; role?: string }[] };
  assert.equal(s.completed, s.requests);
  assert.equal(s.pd.disaggregated + s.pd.local, 200);
  assert.equal(s.pd.threshold_tokens, 64);
  assert.ok(s.pd.transfer_ms.mean > 0);
  assert.deepEqual(s.workers.map((w) => [w.name, w.role]), [['prefill-l20-0', 'prefill'], ['decode-l20-0', 'decode'], ['decode-l20-1', 'decode']]);
  const text = runCli(['simulate', '--fleet', 'prefill=l20:1;decode=l20:1', '--limit', '50']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /disaggregation: 1 prefill \+ 1 decode workers/);
  assert.match(text.stdout, /KV transfer ms: mean/);
  assert.match(text.stdout, /links: pcie 32 GB\/s/);
});

test('CLI: fleet files take role, kv_links and engine.kv_offload; mistakes are one-line user errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-pd-cli-'));
  try {
    const good = join(dir, 'fleet.yaml');
    writeFileSync(good, [
      'workers:',
      '  - {name: pre, gpu: l20, role: prefill}',
      '  - {name: dec, gpu: l20, count: 2, role: decode, engine: {kv_offload: {cpu_gib: 8, cpu_gbps: 20}}}',
      'kv_links:',
      '  - {prefill: pre, decode: dec, gbps: 5, latency_us: 200}',
    ].join('\n'));
    const r = runCli(['simulate', '--fleet', good, '--limit', '100', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { pd: { links: string[] }; kv_offload: { tiers: { tier: string; capacity_gib: number }[] } };
    assert.deepEqual(s.pd.links, ['fleet file 5 GB/s + 200 µs']);
    assert.equal(s.kv_offload.tiers[0].tier, 'cpu');
    assert.ok(Math.abs(s.kv_offload.tiers[0].capacity_gib - 16) < 0.01);
    const cases: [string, RegExp][] = [
      ['workers:\n  - {gpu: l20, role: prefil}\n', /workers\[0\]\.role: expected one of both, prefill, decode, got "prefil"/],
      ['workers:\n  - {gpu: l20, engine: {kv_offload: {cpu_gib: 4}}}\n', /workers\[0\]\.engine\.kv_offload\.cpu_gbps: required with cpu_gib/],
      ['workers:\n  - {name: p, gpu: l20, role: prefill}\n  - {name: d, gpu: l20, role: decode}\nkv_links:\n  - {prefill: d, decode: p, gbps: 1}\n', /kv_links\[0\]\.prefill: "d" has role decode, expected prefill/],
    ];
    cases.forEach(([yaml, err], i) => {
      const f = join(dir, `bad${i}.yaml`);
      writeFileSync(f, yaml);
      const b = runCli(['simulate', '--fleet', f, '--limit', '10']);
      assert.equal(b.status, 2, b.stderr);
      assert.match(b.stderr, err);
      assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [args, err] of [
    [['--fleet', 'l20:2', '--prefill-policy', 'random'], /--prefill-policy: the fleet has no prefill or decode workers/],
    [['--fleet', 'decode=l20:2'], /decode workers need prefill workers/],
    [['--fleet', 'prefill=l20:1;decode=l20:1', '--pd-threshold', '-3'], /--pd-threshold: expected an integer >= 0/],
    [['--fleet', 'prefil=l20:1;decode=l20:1'], /role: expected one of both, prefill, decode/],
  ] as [string[], RegExp][]) {
    const b = runCli(['simulate', ...args, '--limit', '10']);
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, err);
  }
});
