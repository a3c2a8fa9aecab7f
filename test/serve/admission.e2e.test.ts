import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, startMockProcess, startServe, stop, until, type Proc } from './helpers.js';

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const body = (content: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ model: 'llama-3.1-8b', messages: [{ role: 'user', content }], max_tokens: 1, ...extra });
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

function tenantsFile(doc: unknown): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'serve-tenants-'));
  const path = join(dir, 'tenants.json');
  writeFileSync(path, JSON.stringify(doc));
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function metrics(serve: Proc): Promise<string> {
  return (await call(serve.port, 'GET', '/metrics')).body.toString();
}

test('serve --tenants: a tenant\'s admitted requests over a window stay within rate × window + burst; 429 + Retry-After names the quota beyond', { timeout: 90_000 }, async () => {
  const worker = await startMockProcess(CLI, ['--gpu', 'l20', '--port', '0', '--speedup', '1000'], procs);
  const RATE = 5;
  const BURST = 4;
  const f = tenantsFile({
    tenants: {
      acme: { keys: ['k-acme'], requests_per_s: RATE, burst_requests: BURST },
      wordy: { keys: ['k-wordy'], tokens_per_min: 600, burst_tokens: 30 },
      free: { keys: ['k-free'], priority: 'sheddable' },
    },
  });
  let serve: Proc | undefined;
  try {
    serve = await startServe(['--workers', worker.url, '--tenants', f.path, '--log', 'off'], 30_000);
    const port = serve.port;
    // Unknown or missing key: 401; a bad x-priority: 400 naming the header.
    assert.equal((await call(port, 'POST', '/v1/chat/completions', body('x'), bearer('nope'))).status, 401);
    assert.equal((await call(port, 'POST', '/v1/chat/completions', body('x'))).status, 401);
    const badClass = await call(port, 'POST', '/v1/chat/completions', body('x'), { ...bearer('k-free'), 'x-priority': 'gold' });
    assert.equal(badClass.status, 400);
    assert.match(badClass.body.toString(), /x-priority: \\?"gold\\?" is not a priority class \(expected one of critical, standard, sheddable\)/);

    // As fast as requests go, one after another, for a bounded number: the window is measured
    // around them (first send to last answer), which contains serve's own window.
    const N = 60;
    const t0 = performance.now();
    let ok = 0;
    const refused: Awaited<ReturnType<typeof call>>[] = [];
    for (let i = 0; i < N; i++) {
      const r = await call(port, 'POST', '/v1/chat/completions', body(`hello ${i}`), bearer('k-acme'));
      if (r.status === 200) ok++;
      else refused.push(r);
    }
    const windowS = (performance.now() - t0) / 1e3;
    assert.ok(ok >= BURST, `at least the burst is admitted (${ok})`);
    assert.ok(ok <= RATE * windowS + BURST, `${ok} admitted in ${windowS.toFixed(2)} s > ${RATE}/s × window + ${BURST}`);
    assert.ok(refused.length > 0, 'the quota refused some');
    for (const r of refused) {
      assert.equal(r.status, 429);
      const ra = Number(r.headers['retry-after']);
      assert.ok(Number.isInteger(ra) && ra >= 1, `Retry-After ${String(r.headers['retry-after'])}`);
      const e = (JSON.parse(r.body.toString()) as { error: { type: string; param: string; code: string; message: string } }).error;
      assert.equal(e.type, 'rate_limit_error');
      assert.equal(e.param, 'requests_per_s');
      assert.equal(e.code, 'requests_per_s_exceeded');
      assert.match(e.message, /tenant acme is over its requests_per_s quota \(5 requests\/s, burst 4\)/);
    }
    // Another tenant is not held back by acme's quota.
    assert.equal((await call(port, 'POST', '/v1/chat/completions', body('other'), bearer('k-free'))).status, 200);
    // tokens/min: a prompt over the burst (30 tokens) is refused naming tokens_per_min.
    const long = await call(port, 'POST', '/v1/chat/completions', body('word '.repeat(200)), bearer('k-wordy'));
    assert.equal(long.status, 429);
    assert.match(long.body.toString(), /"param":"tokens_per_min"/);
    assert.match(long.body.toString(), /exceeds its tokens_per_min burst \(30 tokens/);

    const m = await metrics(serve);
    assert.match(m, new RegExp(`router_admission_requests_total\\{tenant="acme",priority="standard",outcome="admitted"\\} ${ok}\\b`));
    assert.match(m, new RegExp(`router_admission_requests_total\\{tenant="acme",priority="standard",outcome="rate_limited"\\} ${refused.length}\\b`));
    assert.match(m, /router_admission_requests_total\{tenant="free",priority="sheddable",outcome="admitted"\} 1\b/);
  } finally {
    await stop(serve);
    f.done();
  }
});

/** An upstream that holds every completion until the test releases it (nothing timed). */
async function heldUpstream(): Promise<{ url: string; held: () => number; releaseAll: () => void; received: string[]; close: () => Promise<void> }> {
  const waiting: ServerResponse[] = [];
  const received: string[] = [];
  let released = false;
  const answer = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
  };
  const server = createServer((req, res) => {
    if (req.url === '/health') { res.end('{}'); return; }
    if (req.url === '/metrics') { res.end(''); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push((JSON.parse(Buffer.concat(chunks).toString()) as { messages: { content: string }[] }).messages[0].content);
      if (released) answer(res);
      else waiting.push(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => waiting.length,
    releaseAll: () => {
      released = true;
      for (const res of waiting.splice(0)) answer(res);
    },
    received,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('serve --tenants: critical requests pre-empt queued sheddable ones (503 + Retry-After); every request is answered exactly once', { timeout: 90_000 }, async () => {
  const up = await heldUpstream();
  const f = tenantsFile({ priorities: { max_in_flight: 1, queue_max: 2 } });
  let serve: Proc | undefined;
  try {
    serve = await startServe(['--workers', up.url, '--tenants', f.path, '--log', 'off', '--health-interval', '0', '--scrape-interval', '0', '--max-attempts', '1'], 30_000);
    const port = serve.port;
    const send = (id: string, priority: string): Promise<Awaited<ReturnType<typeof call>>> => call(port, 'POST', '/v1/chat/completions', body(id), { 'x-priority': priority }, 60_000);
    const queued = async (n: number): Promise<boolean> => until(async () => new RegExp(`router_queue_length ${n}\\b`).test(await metrics(serve as Proc)), 20_000);
    const busy = send('busy', 'standard');
    assert.ok(await until(() => up.held() === 1, 20_000), 'the first request holds the one in-flight slot');
    const s0 = send('s0', 'sheddable');
    assert.ok(await queued(1));
    const s1 = send('s1', 'sheddable');
    assert.ok(await queued(2), 'two sheddable requests wait: the queue is full');
    const c0 = send('c0', 'critical');
    const r0 = await s0;
    assert.equal(r0.status, 503, 'the oldest sheddable waiter makes room for the critical arrival');
    assert.ok(Number(r0.headers['retry-after']) >= 1);
    assert.match(r0.body.toString(), /"code":"preempted"/);
    assert.match(r0.body.toString(), /pre-empted in the router queue by a critical request/);
    const c1 = send('c1', 'critical');
    const r1 = await s1;
    assert.equal(r1.status, 503);
    // Full of critical requests now: a further one has no lower waiter to displace, so it is refused (429).
    const c2 = await send('c2', 'critical');
    assert.equal(c2.status, 429);
    assert.match(c2.body.toString(), /router queue full/);
    up.releaseAll();
    const [rb, rc0, rc1] = await Promise.all([busy, c0, c1]);
    assert.deepEqual([rb.status, rc0.status, rc1.status], [200, 200, 200]);
    // Nothing pre-empted or refused reached the worker; every request reached it at most once.
    assert.deepEqual([...up.received].sort(), ['busy', 'c0', 'c1']);
    const m = await metrics(serve);
    assert.match(m, /router_admission_requests_total\{tenant="-",priority="sheddable",outcome="preempted"\} 2\b/);
    assert.match(m, /router_admission_requests_total\{tenant="-",priority="critical",outcome="queue_rejected"\} 1\b/);
    assert.match(m, /router_admission_requests_total\{tenant="-",priority="critical",outcome="admitted"\} 3\b/);
    assert.match(m, /router_queue_length 0\b/);
    // Each request got one answer: serve counted exactly 6 finished inference requests (3 ok, 2 × 503, 1 × 429).
    assert.match(m, /router_requests_total\{[^}]*status="200"[^}]*\} 3\b/);
    assert.match(m, /router_requests_total\{[^}]*status="503"[^}]*\} 2\b/);
    assert.match(m, /router_requests_total\{[^}]*status="429"[^}]*\} 1\b/);
  } finally {
    await stop(serve);
    await up.close();
    f.done();
  }
});

test('serve --tenants FILE with a mistake: one line naming the file and field, exit 2', { timeout: 30_000 }, async () => {
  const f = tenantsFile({ tenants: { acme: { requests_per_s: -1 } } });
  try {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--workers', 'http://127.0.0.1:9', '--tenants', f.path, '--port', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /tenants\.json: tenants\.acme\.requests_per_s: expected a number > 0, got -1/);
  } finally {
    f.done();
  }
});
