import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { call, chatBody, startServe, startUpstream, stats, stop, type Proc } from './helpers.js';

let up: Proc | undefined;
let serve: Proc | undefined;

before(async () => {
  up = await startUpstream();
  serve = await startServe(['--workers', `http://127.0.0.1:${up.port};name=U`, '--max-body-bytes', '2048', '--api-key', 'data-key', '--health-interval', '0', '--log', 'off']);
});
after(async () => {
  await Promise.all([stop(serve), stop(up)]);
});

interface Case {
  name: string;
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  status: number;
  param?: string | null;
}

const auth = { authorization: 'Bearer data-key', 'content-type': 'application/json' };

/** Hostile or mistaken requests and the answer each must get. */
function cases(i: number): Case[] {
  const chat = '/v1/chat/completions';
  return [
    { name: 'invalid json', method: 'POST', path: chat, body: `{"messages": [${i}`, status: 400, param: null },
    { name: 'json array', method: 'POST', path: chat, body: `[${i}]`, status: 400, param: null },
    { name: 'json string', method: 'POST', path: chat, body: `"x${i}"`, status: 400, param: null },
    { name: 'empty body', method: 'POST', path: chat, body: '', status: 400, param: null },
    { name: 'messages missing', method: 'POST', path: chat, body: JSON.stringify({ model: 'm', n: i }), status: 400, param: 'messages' },
    { name: 'messages not array', method: 'POST', path: chat, body: JSON.stringify({ messages: { role: 'user' } }), status: 400, param: 'messages' },
    { name: 'messages empty', method: 'POST', path: chat, body: JSON.stringify({ messages: [] }), status: 400, param: 'messages' },
    { name: 'message not object', method: 'POST', path: chat, body: JSON.stringify({ messages: [i] }), status: 400, param: 'messages[0]' },
    { name: 'role missing', method: 'POST', path: chat, body: JSON.stringify({ messages: [{ content: 'x' }] }), status: 400, param: 'messages[0].role' },
    { name: 'content wrong type', method: 'POST', path: chat, body: JSON.stringify({ messages: [{ role: 'user', content: i }] }), status: 400, param: 'messages[0].content' },
    { name: 'content part bad', method: 'POST', path: chat, body: JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: i }] }] }), status: 400, param: 'messages[0].content[0].text' },
    { name: 'model not string', method: 'POST', path: chat, body: JSON.stringify({ model: i, messages: [{ role: 'user', content: 'x' }] }), status: 400, param: 'model' },
    { name: 'stream not boolean', method: 'POST', path: chat, body: chatBody('x', { stream: 'yes' }), status: 400, param: 'stream' },
    { name: 'max_tokens negative', method: 'POST', path: chat, body: chatBody('x', { max_tokens: -i - 1 }), status: 400, param: 'max_tokens' },
    { name: 'max_tokens fractional', method: 'POST', path: chat, body: chatBody('x', { max_tokens: 1.5 }), status: 400, param: 'max_tokens' },
    { name: 'prompt missing', method: 'POST', path: '/v1/completions', body: JSON.stringify({ model: 'm' }), status: 400, param: 'prompt' },
    { name: 'prompt wrong type', method: 'POST', path: '/v1/completions', body: JSON.stringify({ prompt: { a: i } }), status: 400, param: 'prompt' },
    { name: 'prompt mixed array', method: 'POST', path: '/v1/completions', body: JSON.stringify({ prompt: ['a', 1] }), status: 400, param: 'prompt' },
    { name: 'oversized', method: 'POST', path: chat, body: chatBody('x'.repeat(3000 + i)), status: 413 },
    { name: 'wrong content-type', method: 'POST', path: chat, body: chatBody('x'), headers: { 'content-type': 'text/plain' }, status: 415 },
    { name: 'wrong method', method: 'GET', path: chat, status: 405 },
    { name: 'unknown path', method: 'POST', path: `/v1/nothing/${i}`, body: '{}', status: 404 },
    { name: 'no api key', method: 'POST', path: chat, body: chatBody('x'), headers: { authorization: '' }, status: 401 },
    { name: 'wrong api key', method: 'POST', path: chat, body: chatBody('x'), headers: { authorization: `Bearer data-key${i}` }, status: 401 },
    { name: 'admin disabled', method: 'GET', path: '/workers', status: 403 },
  ];
}

test('1,000 malformed, oversized and wrongly typed requests each get the right 4xx; the server stays up', async () => {
  const agent = new Agent({ connections: 16 });
  const kinds = cases(0).length;
  const seen = new Map<string, number>();
  let next = 0;
  const deadline = Date.now() + 60_000;
  const worker = async (): Promise<void> => {
    while (next < 1000 && Date.now() < deadline) {
      const i = next++;
      const c = cases(i)[i % kinds];
      const headers = { ...auth, ...(c.headers ?? {}) };
      if (headers.authorization === '') delete (headers as Record<string, string>).authorization;
      const r = await request(`http://127.0.0.1:${serve!.port}${c.path}`, { method: c.method as 'POST', body: c.body, headers, dispatcher: agent });
      const text = await r.body.text();
      assert.equal(r.statusCode, c.status, `${c.name}: ${text}`);
      const e = (JSON.parse(text) as { error: Record<string, unknown> }).error;
      assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], c.name);
      assert.equal(typeof e.message, 'string');
      if (c.param !== undefined) assert.equal(e.param, c.param, c.name);
      seen.set(c.name, (seen.get(c.name) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await agent.close();
  assert.equal([...seen.values()].reduce((a, b) => a + b, 0), 1000);
  assert.equal(seen.size, kinds);
  assert.equal((await stats(up!)).requests, 0, 'nothing malformed reached the worker');
  assert.equal((await call(serve!.port, 'GET', '/health')).status, 200);
  const ok = await call(serve!.port, 'POST', '/v1/chat/completions', chatBody('still fine'), { authorization: 'Bearer data-key' });
  assert.equal(ok.status, 200);
});
