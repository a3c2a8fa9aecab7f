import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, chatBody, control, startServe, startUpstream, stats, stop, until, type Proc } from './helpers.js';

/** Issue 18's serve defects, each reproduced as it was found. */

let a: Proc | undefined;
let b: Proc | undefined;
let dir: string;

before(async () => {
  [a, b] = await Promise.all([startUpstream(), startUpstream()]);
  dir = mkdtempSync(join(tmpdir(), 'serve-defects-'));
});
after(async () => {
  await Promise.all([stop(a), stop(b)]);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await Promise.all([control(a!, {}), control(b!, {})]);
});

const two = (): string => `http://127.0.0.1:${a!.port};name=A,http://127.0.0.1:${b!.port};name=B`;
const chat = (port: number, content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => call(port, 'POST', '/v1/chat/completions', chatBody(content, extra), headers);

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}
const errorOf = (r: { body: Buffer }): ErrorBody['error'] => (JSON.parse(r.body.toString()) as ErrorBody).error;

async function metricsText(serve: Proc, headers: Record<string, string> = {}): Promise<string> {
  return (await call(serve.port, 'GET', '/metrics', undefined, headers)).body.toString();
}

/** A raw TCP connection; `closed` resolves when the server closes it, with everything it sent. */
function raw(port: number, localAddress = '127.0.0.1'): { sock: Socket; closed: Promise<string>; errors: string[] } {
  const sock = connect({ host: '127.0.0.1', port, localAddress });
  let got = '';
  const errors: string[] = [];
  sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
  sock.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
  const closed = new Promise<string>((r) => sock.on('close', () => r(got)));
  return { sock, closed, errors };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);
}

// ---- 1. breakers ---------------------------------------------------------------------------

test('18.1: a passing health check readmits a worker whose breaker opened, long before --breaker-open', async () => {
  const serve = await startServe(['--workers', two(), '--policy', 'round-robin', '--health-interval', '0.2', '--breaker-failures', '2', '--breaker-open', '600', '--max-attempts', '1', '--log', 'off']);
  try {
    await control(a!, { mode: 'fail', failStatus: 500 });
    for (let i = 0; i < 6; i++) await chat(serve.port, `fail ${i}`);
    // Open, or half-open when a health check just let a probe through (which fails again).
    assert.match(await metricsText(serve), /router_worker_breaker_state\{worker="A"\} [12]/);
    await control(a!, {});
    const seen = (await stats(a!)).requests;
    // A's health checks pass: it must take requests again without waiting 600 s.
    assert.ok(
      await until(async () => {
        await chat(serve.port, 'probe');
        return (await stats(a!)).requests > seen;
      }, 8000),
      'A readmitted',
    );
    assert.match(serve.stderr(), /worker A ejected/);
  } finally {
    await stop(serve);
  }
});

test('18.1: when every breaker is open, serve fails open and routes instead of refusing', async () => {
  const serve = await startServe(['--workers', two(), '--policy', 'round-robin', '--health-interval', '0', '--breaker-failures', '2', '--breaker-open', '600', '--max-attempts', '1', '--log', 'off']);
  try {
    await Promise.all([control(a!, { mode: 'fail', failStatus: 500 }), control(b!, { mode: 'fail', failStatus: 500 })]);
    for (let i = 0; i < 8; i++) await chat(serve.port, `fail ${i}`);
    const m = await metricsText(serve);
    assert.match(m, /router_worker_breaker_state\{worker="A"\} 1/);
    assert.match(m, /router_worker_breaker_state\{worker="B"\} 1/);
    await Promise.all([control(a!, {}), control(b!, {})]);
    for (let i = 0; i < 4; i++) assert.equal((await chat(serve.port, `back ${i}`)).status, 200, 'routed although every breaker is open');
    assert.match(serve.stderr(), /failing open/);
  } finally {
    await stop(serve);
  }
});

// ---- 2. slow clients -----------------------------------------------------------------------

test('18.2: slow headers and a dripping body are cut by the client timeouts; a per-client cap keeps one address from taking every connection', async () => {
  const serve = await startServe([
    '--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--log', 'off',
    '--client-header-timeout', '0.3', '--client-body-timeout', '0.5', '--max-connections-per-client', '20',
  ]);
  try {
    const slowHead = raw(serve.port);
    slowHead.sock.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n');
    const silent = raw(serve.port);
    const drip = raw(serve.port);
    const body = chatBody('drip');
    drip.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
    let i = 0;
    const dripper = setInterval(() => {
      if (i < body.length && !drip.sock.destroyed) drip.sock.write(body[i++]);
    }, 100);
    try {
      await within(slowHead.closed, 5000, 'slow-header connection closed');
      await within(silent.closed, 5000, 'silent connection closed');
      await within(drip.closed, 5000, 'dripping body connection closed');
    } finally {
      clearInterval(dripper);
    }
    assert.ok(i < body.length, 'the drip was cut before it finished');
    // 30 idle connections from another loopback address: 20 are kept (until the header
    // timeout closes them), the other 10 are refused with a 429 at once.
    const hogs = Array.from({ length: 30 }, () => raw(serve.port, '127.0.0.2'));
    // Meanwhile a new client from another address is served.
    assert.equal((await chat(serve.port, 'still served')).status, 200);
    const answers = await within(Promise.all(hogs.map((h) => h.closed)), 5000, 'idle connections closed');
    assert.equal(answers.filter((r) => r.startsWith('HTTP/1.1 429')).length, 10, answers.map((r) => r.slice(0, 12)).join('|'));
  } finally {
    await stop(serve);
  }
});

test('18.2: --max-connections caps open connections', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--log', 'off', '--max-connections', '5', '--max-connections-per-client', '0']);
  try {
    const held = Array.from({ length: 5 }, () => raw(serve.port));
    await until(() => held.every((h) => h.sock.readyState === 'open'), 3000);
    const extra = raw(serve.port);
    await within(extra.closed, 5000, 'a connection beyond the cap is closed');
    for (const h of held) h.sock.destroy();
    await until(async () => (await call(serve.port, 'GET', '/health').catch(() => ({ status: 0 }))).status === 200, 5000);
  } finally {
    await stop(serve);
  }
});

// ---- 3. big bodies -------------------------------------------------------------------------

test('18.3: the default body limit is what a prompt needs (5 MiB → 413); bytes in flight are bounded', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--log', 'off', '--max-bytes-in-flight', '3000']);
  try {
    const big = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('x'.repeat(5 * 1024 * 1024)));
    assert.equal(big.status, 413);
    await control(a!, { headerDelayMs: 1500 });
    const held = chat(serve.port, 'y'.repeat(2000));
    assert.ok(await until(async () => (await stats(a!)).active === 1, 3000));
    const second = await chat(serve.port, 'z'.repeat(2000));
    assert.equal(second.status, 503);
    assert.equal(errorOf(second).code, 'overloaded');
    assert.equal((await held).status, 200);
    assert.equal((await chat(serve.port, 'z'.repeat(2000))).status, 200, 'the budget is given back');
  } finally {
    await stop(serve);
  }
});

// ---- 5. stalled worker ---------------------------------------------------------------------

test('18.5: a worker that accepts and never answers is detected and its requests go elsewhere (idle timeout left at 300 s)', async () => {
  const serve = await startServe(['--workers', two(), '--policy', 'round-robin', '--health-interval', '0', '--stall-timeout', '0.5', '--retry-backoff-ms', '1', '--log', 'off']);
  try {
    await control(a!, { mode: 'stall' });
    const rs = await within(Promise.all([0, 1, 2, 3, 4, 5].map((i) => chat(serve.port, `stall ${i}`))), 15_000, 'all answered');
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.match(serve.stderr(), /worker A stalled/);
    assert.match(await metricsText(serve), /router_worker_breaker_state\{worker="A"\} 1/);
  } finally {
    await stop(serve);
  }
});

test('18.5: a stream whose first byte does not come within --first-byte-timeout is retried on another worker', async () => {
  const serve = await startServe(['--workers', two(), '--policy', 'round-robin', '--health-interval', '0', '--stall-timeout', '0', '--first-byte-timeout', '0.3', '--retry-backoff-ms', '1', '--log', 'off']);
  try {
    await control(a!, { firstChunkDelayMs: 60_000 });
    const rs = await within(Promise.all([0, 1, 2, 3].map((i) => chat(serve.port, `fb ${i}`, { stream: true }))), 15_000, 'all answered');
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.ok(r.body.toString().endsWith('data: [DONE]\n\n'));
    }
  } finally {
    await stop(serve);
  }
});

// ---- 6, 7, 14. bad requests ------------------------------------------------------------------

test('18.6/14: malformed admin paths, CONNECT, json-patch bodies and duplicate workers get the right 4xx', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--health-interval', '0', '--admin-key', 'k', '--log', 'off']);
  const auth = { authorization: 'Bearer k' };
  try {
    const bad = await call(serve.port, 'GET', '/workers/%ZZ', undefined, auth);
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad).code, 'invalid_path');
    assert.doesNotMatch(serve.stderr(), /URIError|at /);
    const patch = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('x'), { 'content-type': 'application/json-patch+json' });
    assert.equal(patch.status, 415);
    assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody('x'), { 'content-type': 'application/json; charset=utf-8' })).status, 200);
    const dup = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: `http://127.0.0.1:${a!.port}` }), auth);
    assert.equal(dup.status, 409);
    assert.equal(errorOf(dup).type, 'invalid_request_error');
    const c = raw(serve.port);
    c.sock.write('CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
    const answer = await within(c.closed, 5000, 'CONNECT answered');
    assert.match(answer, /^HTTP\/1\.1 405 /);
  } finally {
    await stop(serve);
  }
});

test('18.7: a 413 reaches a client that is still uploading (the rest of the body is drained)', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--max-body-bytes', '65536', '--log', 'off']);
  try {
    for (const declared of [true, false]) {
      const size = 4 * 1024 * 1024;
      const c = raw(serve.port);
      const head = declared
        ? `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\nconnection: close\r\n\r\n`
        : `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`;
      c.sock.write(head);
      const piece = Buffer.alloc(64 * 1024, 'a');
      // Upload the whole body as a client does before it reads; the answer is awaited separately
      // (bounded), so a server that stops reading cannot hang the test.
      void (async () => {
        for (let sent = 0; sent < size && !c.sock.destroyed; sent += piece.length) {
          const data = declared ? piece : Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
          if (!c.sock.write(data)) await new Promise((r) => (c.sock.once('drain', r), c.sock.once('close', r)));
        }
        if (!declared && !c.sock.destroyed) c.sock.write('0\r\n\r\n');
      })();
      const answer = await within(c.closed, 10_000, '413 read');
      assert.match(answer, /^HTTP\/1\.1 413 /, `declared=${declared}: ${answer.slice(0, 80)} errors=${c.errors.join(',')}`);
      assert.deepEqual(c.errors, []);
    }
  } finally {
    await stop(serve);
  }
});

// ---- 8. second SIGTERM ----------------------------------------------------------------------

test('18.8: a second SIGTERM during the drain ends streams with an SSE error and [DONE] and flushes the log and --record', async () => {
  const log = join(dir, 'sigterm.log');
  const rec = join(dir, 'sigterm.jsonl');
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--drain-timeout', '600', '--log', log, '--record', rec]);
  try {
    await control(a!, { chunkDelayMs: 100 });
    let firstChunk!: () => void;
    const gotChunk = new Promise<void>((r) => (firstChunk = r));
    const body = new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: serve.port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          firstChunk();
        });
        res.on('end', () => resolve(text));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(chatBody('long', { stream: true, max_tokens: 200 }));
    });
    await within(gotChunk, 5000, 'stream started');
    serve.child.kill('SIGTERM');
    assert.ok(await until(() => /draining/.test(serve.stderr()), 5000));
    serve.child.kill('SIGTERM');
    const text = await within(body, 10_000, 'stream ended');
    assert.match(text, /"code":"shutting_down"/);
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    assert.equal(await serve.exited, 0);
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'the request was logged');
    assert.equal(readFileSync(rec, 'utf8').trim().split('\n').length, 1, 'and recorded');
  } finally {
    await stop(serve);
  }
});

// ---- 9, 10. exposure and 499 -------------------------------------------------------------------

test('18.9: x-router-worker is opt-in; --protect-ops puts /metrics and /readiness behind the API key', async () => {
  const plain = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--log', 'off']);
  try {
    const r = await chat(plain.port, 'who');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-router-worker'], undefined, 'no internal host:port by default');
  } finally {
    await stop(plain);
  }
  const guarded = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--health-interval', '0', '--log', 'off', '--api-key', 'key', '--protect-ops', '--worker-header']);
  try {
    assert.equal((await call(guarded.port, 'GET', '/metrics')).status, 401);
    assert.equal((await call(guarded.port, 'GET', '/readiness')).status, 401);
    assert.equal((await call(guarded.port, 'GET', '/health')).status, 200, 'liveness stays open');
    assert.equal((await call(guarded.port, 'GET', '/metrics', undefined, { authorization: 'Bearer key' })).status, 200);
    assert.equal((await chat(guarded.port, 'who', {}, { authorization: 'Bearer key' })).headers['x-router-worker'], 'A');
  } finally {
    await stop(guarded);
  }
});

test('18.10: a stream the client aborts is counted as 499, not 200', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port}`, '--health-interval', '0', '--log', 'off']);
  try {
    await control(a!, { chunkDelayMs: 50 });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: serve.port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.message.includes('socket hang up') ? undefined : reject(e)));
      req.end(chatBody('leave', { stream: true, max_tokens: 100 }));
    });
    assert.ok(await until(async () => /router_requests_total\{route="\/v1\/chat\/completions",status="499"\} 1/.test(await metricsText(serve)), 5000));
    assert.doesNotMatch(await metricsText(serve), /status="200"/);
  } finally {
    await stop(serve);
  }
});

// ---- 11. labels and new workers ---------------------------------------------------------------

test('18.11: unknown GPU labels are refused like simulate does; known GPUs get cost and profile', async () => {
  const r = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--workers', `http://127.0.0.1:${a!.port};gpu=h1000`], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown GPU "h1000" \(known: .*l20/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A;gpu=l20`, '--health-interval', '0', '--admin-key', 'k', '--log', 'off']);
  try {
    const w = JSON.parse((await call(serve.port, 'GET', '/workers/A', undefined, { authorization: 'Bearer k' })).body.toString()) as { profile: string; cost_usd_per_hour: number };
    assert.equal(w.profile, 'llama-3.1-8b@l20');
    assert.ok(w.cost_usd_per_hour > 0);
    const badAdd = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: 'http://127.0.0.1:1', gpu: 'h1000' }), { authorization: 'Bearer k' });
    assert.equal(badAdd.status, 400);
    assert.match(errorOf(badAdd).message, /unknown GPU "h1000"/);
  } finally {
    await stop(serve);
  }
});

test('18.11: an admin-added dead worker starts unhealthy and takes no request; health transitions are logged', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--health-interval', '0.2', '--health-timeout', '0.5', '--admin-key', 'k', '--log', 'off', '--max-attempts', '1']);
  const auth = { authorization: 'Bearer k' };
  try {
    const added = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: 'http://127.0.0.1:9', name: 'dead' }), auth);
    assert.equal(added.status, 201);
    assert.equal((JSON.parse(added.body.toString()) as { healthy: boolean }).healthy, false);
    for (let i = 0; i < 6; i++) assert.equal((await chat(serve.port, `n${i}`)).status, 200, 'nothing goes to the dead worker');
    assert.ok(await until(() => /worker dead still unhealthy: \/health (ECONNREFUSED|.*)/.test(serve.stderr()), 5000), serve.stderr());
    await control(a!, { mode: 'unhealthy' });
    assert.ok(await until(() => /worker A unhealthy: \/health failed/.test(serve.stderr()), 5000), serve.stderr());
    await control(a!, {});
    // Once at start (its first check), once on recovery.
    assert.ok(await until(() => (serve.stderr().match(/worker A healthy/g) ?? []).length >= 2, 5000), serve.stderr());
  } finally {
    await stop(serve);
  }
});
