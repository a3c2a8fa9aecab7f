import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, chatBody, control, startServe, startUpstream, stats, stop, until } from './helpers.js';

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

/** Two GPU types: one request takes 0.8 of the fast h100-sxm (tput·e2e = 1.25), so a second waits; the slow a10 holds two (0.5 each). */
function typeTables(dir: string): string {
  const t = (gpu: string, e2e: number, tput: number): string =>
    JSON.stringify({ gpu, cost: 1, tputs: [[tput, tput], [tput, tput]], indexes: [[16, 256], [128, 2048]], created: 0, e2e: [[e2e, e2e], [e2e, e2e]], slos: { percentile: 99, e2e: 60 } });
  writeFileSync(join(dir, 'fast.json'), t('h100-sxm', 0.5, 2.5));
  writeFileSync(join(dir, 'slow.json'), t('a10', 2, 1));
  return dir;
}

test('serve: x-slo-* headers change the slo policy\'s decisions (a tight SLO waits for the fast GPU, a loose one spills to the slow)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-slo-headers-'));
  const [fast, slow] = await Promise.all([startUpstream(), startUpstream()]);
  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    await control(fast, { headerDelayMs: 1500 });
    serve = await startServe(['--workers', `http://127.0.0.1:${fast.port};gpu=h100-sxm;name=fast-0,http://127.0.0.1:${slow.port};gpu=a10;name=slow-0`, '--policy', 'slo', '--slo-profile', typeTables(dir), '--slo', 'e2e_ms=60000', '--health-interval', '0', '--scrape-interval', '0', '--log', 'off', '--worker-header']);
    const port = serve.port;
    assert.doesNotMatch(serve.stderr(), /fallback|deriving/);
    // A (1 s SLO): only the fast GPU predicts it met (0.5 s expected vs 2 s on the slow one).
    const a = call(port, 'POST', '/v1/chat/completions', chatBody('a'), { 'x-slo-e2e-ms': '1000' });
    assert.ok(await until(async () => (await stats(fast)).active === 1), 'A reached the fast worker');
    // B (1 s SLO): the slow GPU would predict a violation (2 s > 1 s), so B waits for the fast one.
    const b = call(port, 'POST', '/v1/chat/completions', chatBody('b'), { 'x-slo-e2e-ms': '1000' });
    assert.ok(await until(async () => /router_queue_length 1/.test((await call(port, 'GET', '/metrics')).body.toString())), 'B is held in the queue');
    // C (60 s SLO, the same as --slo): both types meet it; the fast one is full, so C goes to the slow one at once.
    const c = await call(port, 'POST', '/v1/chat/completions', chatBody('c'), { 'x-slo-e2e-ms': '60000' });
    assert.equal(c.status, 200);
    assert.equal(c.headers['x-router-worker'], 'slow-0');
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual([ra.status, rb.status], [200, 200]);
    assert.equal(ra.headers['x-router-worker'], 'fast-0');
    assert.equal(rb.headers['x-router-worker'], 'fast-0', 'B waited for the fast GPU');
    // Per-class attainment on /metrics: two classes, every request judged.
    const m = (await call(port, 'GET', '/metrics')).body.toString();
    assert.match(m, /router_slo_requests_total\{slo_class="e2e_ms=60000"\} 1/);
    assert.match(m, /router_slo_requests_total\{slo_class="e2e_ms=1000"\} 2/);
    assert.match(m, /router_slo_attainment\{slo_class="e2e_ms=60000"\} 1/);
    // A bad header value is a 400 naming it; serve keeps serving.
    const bad = await call(port, 'POST', '/v1/chat/completions', chatBody('d'), { 'x-slo-tpot-ms': 'fast' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /header x-slo-tpot-ms: expected a positive number of milliseconds/);
  } finally {
    await Promise.all([stop(serve), stop(fast), stop(slow)]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve with an slo policy and no tables derives them from the worker labels and names the default SLO', { timeout: 120_000 }, async () => {
  const up = await startUpstream();
  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    serve = await startServe(['--workers', `http://127.0.0.1:${up.port};gpu=l20`, '--policy', 'slo', '--health-interval', '0', '--log', 'off'], 90_000);
    const err = serve.stderr();
    assert.match(err, /default SLO tpot_ms=50,percentile=99/);
    assert.match(err, /deriving SLO tables \(computed tokens\) for llama-3\.1-8b@l20 /);
    assert.doesNotMatch(err, /routes everything through its fallback/);
    const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('x'));
    assert.equal(r.status, 200);
    assert.match((await call(serve.port, 'GET', '/metrics')).body.toString(), /router_slo_requests_total\{slo_class="tpot_ms=50"\} 1/);
  } finally {
    await Promise.all([stop(serve), stop(up)]);
  }
});
