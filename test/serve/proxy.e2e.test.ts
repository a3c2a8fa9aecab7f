import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, chatBody, startServe, startUpstream, stats, stop, until, type Proc } from './helpers.js';

let up1: Proc | undefined;
let up2: Proc | undefined;
let serve: Proc | undefined;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'serve-e2e-'));
  [up1, up2] = await Promise.all([startUpstream(), startUpstream()]);
  serve = await startServe([
    '--workers', `http://127.0.0.1:${up1.port};name=w1;gpu=l20;cost=1.5,http://127.0.0.1:${up2.port};name=w2`,
    '--admin-key', 'admin-secret',
    '--worker-header',
    '--policy', 'round-robin',
    '--health-interval', '0.2',
    '--scrape-interval', '0.2',
    '--log', join(dir, 'requests.log'),
  ]);
});

after(async () => {
  await Promise.all([stop(serve), stop(up1), stop(up2)]);
  rmSync(dir, { recursive: true, force: true });
});

test('non-streaming chat and completion bodies through serve are byte-identical to direct calls', async () => {
  for (const [path, body] of [
    ['/v1/chat/completions', chatBody('hello there, how are you?')],
    ['/v1/completions', JSON.stringify({ model: 'fixture-model', prompt: 'Once upon a time', max_tokens: 12 })],
    ['/v1/completions', JSON.stringify({ model: 'fixture-model', prompt: [1, 2, 3, 4], max_tokens: 3 })],
  ] as const) {
    const direct = await call(up1!.port, 'POST', path, body);
    for (let i = 0; i < 2; i++) {
      const via = await call(serve!.port, 'POST', path, body);
      assert.equal(via.status, 200);
      assert.equal(via.headers['content-type'], 'application/json');
      assert.match(String(via.headers['x-router-worker']), /^w[12]$/, 'the answering worker is named');
      assert.ok(via.body.equals(direct.body), `${path}: ${via.body.toString()} != ${direct.body.toString()}`);
    }
  }
});

test('streaming SSE through serve is byte-identical to a direct call and ends with [DONE]', async () => {
  const body = chatBody('stream me something', { stream: true, max_tokens: 40, stream_options: { include_usage: true } });
  const direct = await call(up2!.port, 'POST', '/v1/chat/completions', body);
  for (let i = 0; i < 2; i++) {
    const via = await call(serve!.port, 'POST', '/v1/chat/completions', body);
    assert.equal(via.status, 200);
    assert.equal(via.headers['content-type'], 'text/event-stream');
    assert.ok(via.body.equals(direct.body));
    assert.ok(via.body.toString().endsWith('data: [DONE]\n\n'));
  }
});

test('pass-through of /v1/models and /v1/embeddings', async () => {
  const models = await call(serve!.port, 'GET', '/v1/models');
  assert.equal(models.status, 200);
  assert.ok(models.body.equals((await call(up1!.port, 'GET', '/v1/models')).body));
  const emb = await call(serve!.port, 'POST', '/v1/embeddings', JSON.stringify({ model: 'fixture-model', input: 'x' }));
  assert.equal(emb.status, 200);
  assert.deepEqual((JSON.parse(emb.body.toString()) as { data: { embedding: number[] }[] }).data[0].embedding, [0.1, 0.2, 0.3]);
});

test('admin API refuses without the key and manages workers with it', async () => {
  const noKey = await call(serve!.port, 'GET', '/workers');
  assert.equal(noKey.status, 401);
  assert.equal((JSON.parse(noKey.body.toString()) as { error: { type: string } }).error.type, 'authentication_error');
  const wrong = await call(serve!.port, 'GET', '/workers', undefined, { authorization: 'Bearer admin-secreT' });
  assert.equal(wrong.status, 401);
  const del = await call(serve!.port, 'DELETE', '/workers/w1');
  assert.equal(del.status, 401);
  const auth = { authorization: 'Bearer admin-secret' };
  const list = JSON.parse((await call(serve!.port, 'GET', '/workers', undefined, auth)).body.toString()) as { workers: { name: string; gpu: string; cost_usd_per_hour: number }[] };
  assert.deepEqual(list.workers.map((w) => w.name), ['w1', 'w2']);
  assert.equal(list.workers[0].gpu, 'l20');
  assert.equal(list.workers[0].cost_usd_per_hour, 1.5);
  // Remove w1: every request now lands on w2.
  assert.equal((await call(serve!.port, 'DELETE', '/workers/w1', undefined, auth)).status, 200);
  const before2 = (await stats(up2!)).requests;
  const before1 = (await stats(up1!)).requests;
  for (let i = 0; i < 4; i++) assert.equal((await call(serve!.port, 'POST', '/v1/chat/completions', chatBody(`r${i}`))).status, 200);
  assert.equal((await stats(up2!)).requests - before2, 4);
  assert.equal((await stats(up1!)).requests - before1, 0);
  // Add it back under a new name; a bad body is a 400, a duplicate a 409.
  assert.equal((await call(serve!.port, 'POST', '/workers', JSON.stringify({ url: 'ftp://x' }), auth)).status, 400);
  const added = await call(serve!.port, 'POST', '/workers', JSON.stringify({ url: `http://127.0.0.1:${up1!.port}`, name: 'w1b' }), auth);
  assert.equal(added.status, 201);
  // A new stable id; the freed slot 0 is reused.
  const addedJson = JSON.parse(added.body.toString()) as { id: number; index: number };
  assert.deepEqual([addedJson.id, addedJson.index], [2, 0]);
  assert.equal((await call(serve!.port, 'POST', '/workers', JSON.stringify({ url: `http://127.0.0.1:${up1!.port}` }), auth)).status, 409);
  for (let i = 0; i < 4; i++) assert.equal((await call(serve!.port, 'POST', '/v1/chat/completions', chatBody(`s${i}`))).status, 200);
  assert.ok((await stats(up1!)).requests - before1 >= 1);
});

test('/health, /readiness and /metrics', async () => {
  assert.equal((await call(serve!.port, 'GET', '/health')).status, 200);
  const ready = await call(serve!.port, 'GET', '/readiness');
  assert.equal(ready.status, 200);
  assert.equal((JSON.parse(ready.body.toString()) as { ready: boolean }).ready, true);
  // Scraped engine metrics reach the worker views (and the Prometheus page).
  assert.ok(await until(async () => (await call(serve!.port, 'GET', '/metrics')).body.toString().includes('router_worker_engine_kv_usage{worker="w2"}')));
  const m = (await call(serve!.port, 'GET', '/metrics')).body.toString();
  for (const name of ['router_requests_total', 'router_ttft_seconds_bucket', 'router_tpot_seconds_bucket', 'router_e2e_seconds_bucket', 'router_worker_in_flight', 'router_worker_breaker_state', 'router_queue_length', 'router_routing_decision_seconds_bucket', 'router_retries_total', 'router_errors_total']) {
    assert.ok(m.includes(name), `missing ${name}`);
  }
  assert.match(m, /router_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+/);
});

test('the request log has one JSON line per request with id, worker, status and timings', async () => {
  await call(serve!.port, 'POST', '/v1/chat/completions', chatBody('log me'), { 'x-request-id': 'my-id-1' });
  let line: Record<string, unknown> | undefined;
  assert.ok(
    await until(() => {
      const lines = readFileSync(join(dir, 'requests.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      line = lines.find((l) => l.id === 'my-id-1');
      return line !== undefined;
    }),
  );
  assert.equal(line!.status, 200);
  assert.equal(line!.path, '/v1/chat/completions');
  assert.ok(typeof line!.worker === 'string');
  assert.ok(typeof line!.e2e_ms === 'number');
  assert.equal(line!.output_tokens, 6);
  // A non-streaming client gets its first token with its last: no TTFT, no TPOT.
  assert.equal(line!.ttft_ms, undefined);
  assert.equal(line!.tpot_ms, undefined);
});

test('only streamed inference has a TTFT: non-streaming and pass-through requests stay out of router_ttft_seconds', async () => {
  const count = async (name: string): Promise<number> => Number(new RegExp(`^${name}_count (\\d+)`, 'm').exec((await call(serve!.port, 'GET', '/metrics')).body.toString())?.[1] ?? NaN);
  const [ttft0, e2e0] = [await count('router_ttft_seconds'), await count('router_e2e_seconds')];
  assert.equal((await call(serve!.port, 'POST', '/v1/chat/completions', chatBody('plain'))).status, 200);
  assert.equal((await call(serve!.port, 'GET', '/v1/models')).status, 200);
  assert.equal(await count('router_ttft_seconds'), ttft0, 'non-streaming and /v1/models add no TTFT sample');
  assert.equal(await count('router_e2e_seconds'), e2e0 + 1, '/v1/models is not an inference E2E');
  await call(serve!.port, 'POST', '/v1/chat/completions', chatBody('streamed', { stream: true, max_tokens: 4 }), { 'x-request-id': 'streamed-1' });
  assert.equal(await count('router_ttft_seconds'), ttft0 + 1);
  let line: Record<string, unknown> | undefined;
  assert.ok(
    await until(() => {
      line = readFileSync(join(dir, 'requests.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.id === 'streamed-1');
      return line !== undefined;
    }),
  );
  assert.ok(typeof line!.ttft_ms === 'number' && typeof line!.tpot_ms === 'number');
  const dispatches = async (): Promise<number> =>
    [...(await call(serve!.port, 'GET', '/metrics')).body.toString().matchAll(/^router_dispatches_total\{[^}]*\} (\d+)/gm)].reduce((a, x) => a + Number(x[1]), 0);
  const d0 = await dispatches();
  assert.equal((await call(serve!.port, 'GET', '/v1/models')).status, 200);
  assert.equal(await dispatches(), d0, 'a pass-through is not a routing dispatch');
});
