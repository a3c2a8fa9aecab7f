import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { call, chatBody, control, startServe, startUpstream, stats, stop, until, type Proc } from './helpers.js';

let a: Proc | undefined;
let b: Proc | undefined;

before(async () => {
  [a, b] = await Promise.all([startUpstream(), startUpstream()]);
});
after(async () => {
  await Promise.all([stop(a), stop(b)]);
});
beforeEach(async () => {
  await Promise.all([control(a!, {}), control(b!, {})]);
});

const workers = (): string => `http://127.0.0.1:${a!.port};name=A,http://127.0.0.1:${b!.port};name=B`;

async function metric(serve: Proc, line: RegExp): Promise<number | undefined> {
  const m = line.exec((await call(serve.port, 'GET', '/metrics')).body.toString());
  return m ? Number(m[1]) : undefined;
}

test('a retryable failure before the first byte is retried on the other worker; 5xx after retries exhausted passes through', async () => {
  const serve = await startServe(['--workers', workers(), '--policy', 'round-robin', '--health-interval', '0', '--retry-backoff-ms', '1', '--log', 'off']);
  try {
    await control(a!, { mode: 'fail', failStatus: 503 });
    for (let i = 0; i < 6; i++) {
      const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody(`retry ${i}`));
      assert.equal(r.status, 200, r.body.toString());
    }
    assert.ok((await metric(serve, /router_retries_total\{worker="A"\} (\d+)/))! >= 3);
    await control(b!, { mode: 'fail', failStatus: 500 });
    const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('all down'));
    assert.ok(r.status === 500 || r.status === 503, `status ${r.status}`);
  } finally {
    await stop(serve);
  }
});

test('a worker killed during a run loses no request that had not started streaming', async () => {
  const victim = await startUpstream();
  const serve = await startServe([
    '--workers', `http://127.0.0.1:${victim.port};name=V,http://127.0.0.1:${b!.port};name=B`,
    '--policy', 'round-robin', '--health-interval', '0.2', '--retry-backoff-ms', '1', '--log', 'off',
  ]);
  try {
    // The victim holds every request (headers after 150 ms; stream chunks after a further 150 ms).
    await control(victim, { headerDelayMs: 150, firstChunkDelayMs: 150 });
    const bodies = Array.from({ length: 40 }, (_, i) => chatBody(`kill ${i}`, { stream: i % 2 === 0, max_tokens: 8 }));
    const pending = bodies.map((body) => call(serve.port, 'POST', '/v1/chat/completions', body));
    await new Promise((r) => setTimeout(r, 80));
    victim.child.kill('SIGKILL');
    const results = await Promise.all(pending);
    for (let i = 0; i < bodies.length; i++) {
      assert.equal(results[i].status, 200, `request ${i}: ${results[i].body.toString()}`);
      // B answers the same body with the same bytes: nothing lost, nothing truncated.
      const direct = await call(b!.port, 'POST', '/v1/chat/completions', bodies[i]);
      assert.ok(results[i].body.equals(direct.body), `request ${i} differs: ${results[i].body.toString().slice(0, 200)}`);
    }
    assert.ok((await metric(serve, /router_retries_total\{worker="V"\} (\d+)/))! >= 1);
  } finally {
    await Promise.all([stop(serve), stop(victim)]);
  }
});

test('a stream that fails mid-way ends with an SSE error event and [DONE]', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--health-interval', '0', '--log', 'off']);
  try {
    await control(a!, { dieAfterChunks: 3, chunkDelayMs: 5 });
    const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('die', { stream: true, max_tokens: 20 }));
    assert.equal(r.status, 200);
    const events = r.body.toString().split('\n\n').filter((e) => e !== '');
    // The fixture cuts its socket after 3 chunks (the last may be lost with the socket).
    assert.ok(events.length >= 3 && events.length <= 5, `${events.length} events`);
    assert.ok(events.slice(0, -2).every((e) => e.includes('chat.completion.chunk')));
    const err = JSON.parse(events[events.length - 2].slice('data: '.length)) as { error: { code: string } };
    assert.equal(err.error.code, 'midstream');
    assert.equal(events[events.length - 1], 'data: [DONE]');
  } finally {
    await stop(serve);
  }
});

test('a stalled worker hits the idle timeout and the request is retried elsewhere', async () => {
  const serve = await startServe(['--workers', workers(), '--policy', 'round-robin', '--health-interval', '0', '--idle-timeout', '0.3', '--retry-backoff-ms', '1', '--log', 'off']);
  try {
    await control(a!, { mode: 'stall' });
    const t0 = Date.now();
    const rs = await Promise.all([0, 1, 2, 3].map((i) => call(serve.port, 'POST', '/v1/chat/completions', chatBody(`stall ${i}`))));
    assert.ok(rs.every((r) => r.status === 200));
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    await stop(serve);
  }
});

test('--request-timeout: 504 timeout before the first byte, an SSE error event and [DONE] after it; the request ends either way', async () => {
  // The sweep that ends overdue requests runs every tenth of the shortest timeout (here 50 ms).
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--policy', 'round-robin', '--health-interval', '0', '--request-timeout', '0.5', '--idle-timeout', '30', '--max-attempts', '1', '--log', 'off']);
  try {
    await control(a!, { mode: 'stall' });
    const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('never answered'));
    assert.equal(r.status, 504, r.body.toString());
    assert.equal((JSON.parse(r.body.toString()) as { error: { code: string } }).error.code, 'timeout');
    await control(a!, { chunkDelayMs: 60_000 });
    const s = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('slow stream', { stream: true, max_tokens: 4 }));
    assert.equal(s.status, 200);
    const events = s.body.toString().split('\n\n').filter((e) => e !== '');
    assert.ok(events[0].includes('chat.completion.chunk'), events[0]);
    const err = JSON.parse(events[events.length - 2].slice('data: '.length)) as { error: { code: string } };
    assert.equal(err.error.code, 'timeout');
    assert.equal(events[events.length - 1], 'data: [DONE]');
    assert.ok(await until(async () => (await metric(serve, /router_requests_total\{route="\/v1\/chat\/completions",status="504"\} (\d+)/)) === 1, 10_000), 'the 504 counted');
  } finally {
    await stop(serve);
  }
});

test('the circuit breaker opens after consecutive failures and closes after a successful probe', async () => {
  const serve = await startServe([
    '--workers', workers(), '--policy', 'round-robin', '--health-interval', '0', '--max-attempts', '1',
    '--breaker-failures', '3', '--breaker-open', '2', '--breaker-successes', '1', '--log', 'off',
  ]);
  try {
    await control(a!, { mode: 'fail', failStatus: 500 });
    const state = (): Promise<number | undefined> => metric(serve, /router_worker_breaker_state\{worker="A"\} (\d+)/);
    for (let i = 0; i < 6; i++) await call(serve.port, 'POST', '/v1/chat/completions', chatBody(`b${i}`));
    assert.equal(await state(), 1, 'open');
    const seen = (await stats(a!)).requests;
    for (let i = 0; i < 6; i++) assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody(`c${i}`))).status, 200);
    // Either still open and untouched, or (on a slow machine) already half-open with at most one probe.
    assert.ok((await stats(a!)).requests - seen <= 1, 'an open breaker sends (almost) nothing to A');
    await control(a!, {});
    assert.ok(await until(async () => (await state()) !== 1, 10_000), 'half-open after --breaker-open');
    assert.ok(
      await until(async () => {
        assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody('d'))).status, 200);
        return (await state()) === 0;
      }, 10_000),
      'closed again',
    );
    assert.ok((await stats(a!)).requests > seen);
  } finally {
    await stop(serve);
  }
});

test('a client that disconnects mid-stream aborts the upstream request and releases its load', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${a!.port};name=A`, '--health-interval', '0', '--log', 'off']);
  try {
    await control(a!, { chunkDelayMs: 50 });
    const before = await stats(a!);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: serve.port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (e.message.includes('socket hang up') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end(chatBody('long', { stream: true, max_tokens: 200 }));
    });
    assert.ok(await until(async () => (await stats(a!)).aborted === before.aborted + 1, 3000), 'upstream saw the abort');
    assert.ok(await until(async () => (await metric(serve, /router_worker_in_flight\{worker="A"\} (\d+)/)) === 0, 3000), 'load released');
    assert.equal((await stats(a!)).active, 0);
  } finally {
    await stop(serve);
  }
});

test('no healthy worker: 503 with Retry-After and an OpenAI error; readiness follows health', async () => {
  const serve = await startServe(['--workers', workers(), '--health-interval', '0.1', '--health-failures', '1', '--health-successes', '1', '--log', 'off']);
  try {
    await Promise.all([control(a!, { mode: 'unhealthy' }), control(b!, { mode: 'unhealthy' })]);
    assert.ok(await until(async () => (await call(serve.port, 'GET', '/readiness')).status === 503));
    const r = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('nobody'));
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    const e = (JSON.parse(r.body.toString()) as { error: Record<string, unknown> }).error;
    assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
    await control(b!, {});
    assert.ok(await until(async () => (await call(serve.port, 'GET', '/readiness')).status === 200));
    assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody('back'))).status, 200);
  } finally {
    await stop(serve);
  }
});
