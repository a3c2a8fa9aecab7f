import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, chatBody, startServe, startUpstream, stop } from './helpers.js';

test('serve runs the pull-mode slo policy on AIBrix tables attached by worker labels', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-slo-'));
  const table = join(dir, 'l20.json');
  const exp = spawnSync(process.execPath, [CLI, 'profile', 'export-aibrix', '--fleet', 'l20', '--slo', 'e2e=5', '--out', table, '--outputs', '16,128', '--inputs', '128,1024', '--rates', '1,4,16', '--samples', '40'], { encoding: 'utf8' });
  assert.equal(exp.status, 0, exp.stderr);
  const [a, b] = await Promise.all([startUpstream(), startUpstream()]);
  const label = 'gpu=l20;profile=llama-3.1-8b@l20';
  const serve = await startServe(['--workers', `http://127.0.0.1:${a.port};${label},http://127.0.0.1:${b.port};${label}`, '--policy', 'slo', '--slo-profile', table, '--slo', 'e2e_ms=5000', '--health-interval', '0', '--log', 'off']);
  try {
    assert.doesNotMatch(serve.stderr(), /fallback/);
    assert.match(serve.stderr(), /policy slo/);
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => call(serve.port, 'POST', '/v1/chat/completions', chatBody(`slo ${i}`, { max_tokens: 8 }))));
    assert.deepEqual(rs.map((r) => r.status), Array(12).fill(200));
    const m = (await call(serve.port, 'GET', '/metrics')).body.toString();
    assert.match(m, /router_queue_length 0/);
  } finally {
    await Promise.all([stop(serve), stop(a), stop(b)]);
    rmSync(dir, { recursive: true, force: true });
  }
});
