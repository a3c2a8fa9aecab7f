import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, chatBody, startServe, stop, until, type Proc, type RawResponse } from './helpers.js';
import { logLines, normalize, received, startMock, stopMock, type MockProc } from './pd-helpers.js';

/**
 * `router serve` with disaggregated prefill/decode in front of `router mock-worker --role`
 * processes, for both wire protocols: what each side received, and that the client gets the
 * decode worker's answer byte for byte.
 */

/** Drops undefined fields, as the JSON on the wire does. */
const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o)) as unknown;

const PROMPT = 'Disaggregated serving splits the prompt from the answer: '.repeat(8);

test('vLLM NIXL flow: prefill gets do_remote_decode with one token and no stream, decode gets the returned kv_transfer_params, the client gets the decode stream', { timeout: 180_000 }, async () => {
  let pre: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  try {
    [pre, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'decode'])]);
    serve = await startServe(['--prefill', pre.url, '--decode', dec.url, '--log', '-', '--health-interval', '0.5'], 60_000);
    const client = { model: undefined, messages: [{ role: 'user', content: PROMPT }], max_tokens: 7, stream: true, stream_options: { include_usage: true }, min_tokens: 2, temperature: 0 };
    const via = await call(serve.port, 'POST', '/v1/chat/completions', JSON.stringify(client));
    assert.equal(via.status, 200);
    assert.match(String(via.headers['content-type']), /text\/event-stream/);

    const p = await received(pre);
    const d = await received(dec);
    assert.equal(p.bodies.length, 1);
    assert.equal(d.bodies.length, 1);
    const pb = JSON.parse(p.bodies[0]) as Record<string, unknown>;
    // The prefill: the client's body, one token, no stream, stream_options and min_tokens gone.
    assert.deepEqual(pb, {
      messages: client.messages,
      max_tokens: 1,
      stream: false,
      temperature: 0,
      kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null },
    });
    // The decode: the client's body as sent plus what the prefill returned (this prefill engine, its blocks, its address).
    const db = JSON.parse(d.bodies[0]) as Record<string, unknown>;
    const kv = db.kv_transfer_params as Record<string, unknown>;
    assert.deepEqual(plain({ ...db, kv_transfer_params: undefined }), plain(client));
    assert.equal(kv.do_remote_prefill, true);
    assert.equal(kv.do_remote_decode, false);
    assert.equal(kv.remote_engine_id, p.engine_id);
    assert.equal(kv.remote_port, pre.port);
    assert.equal(kv.remote_host, '127.0.0.1');
    const blocks = kv.remote_block_ids as number[];
    const srv = serve;
    assert.ok(await until(() => logLines(srv.stdout()).some((l) => l.id === 'req-1')));
    const inputTokens = logLines(serve.stdout()).find((l) => l.id === 'req-1')?.input_tokens as number;
    assert.equal(blocks.length, Math.ceil(inputTokens / 16), 'one block id per 16-token block of the prompt');
    assert.equal(d.counts.decodes, 1);
    assert.equal(d.counts.transferredTokens, inputTokens, 'the decode worker held nothing of the prompt: all of it moved');

    // Byte for byte: the same pair run by hand gives the same stream (ids and timestamps aside).
    const pr = await call(pre.port, 'POST', '/v1/chat/completions', JSON.stringify(pb));
    assert.equal(pr.status, 200);
    const kv2 = (JSON.parse(pr.body.toString()) as { kv_transfer_params: Record<string, unknown> }).kv_transfer_params;
    const direct = await call(dec.port, 'POST', '/v1/chat/completions', JSON.stringify({ ...client, kv_transfer_params: kv2 }));
    assert.equal(direct.status, 200);
    assert.equal(normalize(via.body), normalize(direct.body));
    assert.match(via.body.toString(), /data: \[DONE\]\n\n$/);

    const line = logLines(serve.stdout()).find((l) => l.id === 'req-1');
    assert.equal(line?.status, 200);
    assert.equal(line?.worker, `127.0.0.1:${dec.port}`, 'the access log names the decode worker');
    const metrics = (await call(serve.port, 'GET', '/metrics')).body.toString();
    assert.match(metrics, /^router_pd_requests_total\{path="disaggregated"\} 1$/m);
    assert.match(metrics, /^router_pd_prefill_seconds_count 1$/m);
    assert.match(metrics, new RegExp(`^router_pd_prefill_worker_healthy\\{worker="127\\.0\\.0\\.1:${pre.port}"\\} 1$`, 'm'));
  } finally {
    await stop(serve);
    await Promise.all([stopMock(pre), stopMock(dec)]);
  }
});

test('SGLang flow: the same body with bootstrap_host/port/room goes to prefill and decode at once; the client gets the decode stream', { timeout: 180_000 }, async () => {
  let pre: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  try {
    [pre, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'decode'])]);
    // sgl-router's syntax: a bare port after a prefill URL is its bootstrap port.
    serve = await startServe(['--pd-protocol', 'sglang', '--prefill', pre.url, String(pre.port), '--decode', dec.url, '--log', '-', '--health-interval', '0.5'], 60_000);
    const rooms = new Set<string>();
    for (const stream of [true, false]) {
      const client = { model: undefined, messages: [{ role: 'user', content: PROMPT }], max_tokens: 5, stream };
      const via = await call(serve.port, 'POST', '/v1/chat/completions', JSON.stringify(client));
      assert.equal(via.status, 200);
      const p = await received(pre);
      const d = await received(dec);
      const praw = p.bodies.at(-1) as string;
      const draw = d.bodies.at(-1) as string;
      // Exactly the same body on both sides, the room a bare 63-bit integer.
      assert.equal(praw, draw);
      const room = /"bootstrap_room":(\d+)\}$/.exec(praw)?.[1] as string;
      assert.ok(room !== undefined, praw);
      assert.ok(BigInt(room) < 2n ** 63n);
      rooms.add(room);
      const body = JSON.parse(praw) as Record<string, unknown>;
      assert.deepEqual(plain({ ...body, bootstrap_room: undefined }), plain({ ...client, bootstrap_host: '127.0.0.1', bootstrap_port: pre.port }));
      // The decode worker waited for the room's prefill, then received the prompt's KV.
      assert.equal(d.counts.transferFailures, 0);
      // Byte for byte: what the decode answers to this body (a fresh room, prefilled by hand).
      const again = praw.replace(/"bootstrap_room":\d+/, '"bootstrap_room":12345');
      const both: RawResponse[] = await Promise.all([call(pre.port, 'POST', '/v1/chat/completions', again), call(dec.port, 'POST', '/v1/chat/completions', again)]);
      const direct = both[1];
      assert.equal(direct.status, 200);
      assert.equal(normalize(via.body), normalize(direct.body));
    }
    assert.equal(rooms.size, 2, 'every request gets its own room');
    const p0 = pre;
    assert.ok(await until(async () => (await received(p0)).counts.prefills === 4), 'the prefill side finished every prefill (serve drained its answers)');
  } finally {
    await stop(serve);
    await Promise.all([stopMock(pre), stopMock(dec)]);
  }
});

test('--pd-threshold: short prompts (or prompts the decode worker already holds) prefill on the decode worker; long new ones are disaggregated', { timeout: 180_000 }, async () => {
  let pre: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  try {
    [pre, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'decode'])]);
    serve = await startServe(['--workers', `${pre.url};role=prefill,${dec.url};role=decode`, '--pd-threshold', '64', '--log', 'off', '--health-interval', '0.5'], 60_000);
    const short = chatBody('a short question', { model: undefined, max_tokens: 3 });
    const long = chatBody(PROMPT, { model: undefined, max_tokens: 3 });
    for (const body of [short, long, long]) assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', body)).status, 200);
    // Only the first long one went to the prefill worker: the second found its prompt on the decode worker.
    assert.equal((await received(pre)).bodies.length, 1);
    const d = await received(dec);
    assert.equal(d.bodies.length, 1, 'plain requests are not PD requests');
    assert.equal(d.counts.decodes, 1);
  } finally {
    await stop(serve);
    await Promise.all([stopMock(pre), stopMock(dec)]);
  }
});
