import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, startServe, stop, until, type Proc } from './helpers.js';
import { received, startMock, stopMock, type MockProc } from './pd-helpers.js';

const PROMPT = 'A prefill worker added at run time takes prompts: '.repeat(8);
const ADMIN = { authorization: 'Bearer admin-secret' };

const ask = (port: number): Promise<number> =>
  call(port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 3 })).then((r) => r.status);

test('POST /workers role=prefill joins the prefill pool (listed with its role); DELETE takes it out; prefill on a colocated serve is a 400', { timeout: 180_000 }, async () => {
  let pre1: MockProc | undefined;
  let pre2: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  let colocated: Proc | undefined;
  try {
    [pre1, pre2, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'prefill']), startMock(['--role', 'decode'])]);
    serve = await startServe(['--prefill', pre1.url, '--decode', dec.url, '--admin-key', 'admin-secret', '--health-interval', '0.5'], 60_000);
    const added = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: pre2.url, name: 'pre-2', role: 'prefill' }), ADMIN);
    assert.equal(added.status, 201, added.body.toString());
    assert.equal((JSON.parse(added.body.toString()) as { role?: string }).role, 'prefill');
    const again = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: pre2.url, role: 'prefill' }), ADMIN);
    assert.equal(again.status, 409, 'the same URL twice');
    const listed = JSON.parse((await call(serve.port, 'GET', '/workers', undefined, ADMIN)).body.toString()) as { workers: { name: string; role?: string }[] };
    assert.deepEqual(listed.workers.map((w) => w.role), ['decode', 'prefill', 'prefill']);

    // The first prefill worker leaves: every request is prefilled by the added one.
    const gone = await call(serve.port, 'DELETE', `/workers/${encodeURIComponent(pre1.url)}`, undefined, ADMIN);
    assert.equal(gone.status, 200, gone.body.toString());
    const p2 = pre2;
    for (let i = 0; i < 3; i++) assert.equal(await ask(serve.port), 200);
    assert.ok(await until(async () => (await received(p2)).counts.prefills >= 3, 20_000), 'the added prefill worker took the prompts');
    assert.equal((await received(pre1)).counts.prefills, 0, 'the removed one took none');
    const after = JSON.parse((await call(serve.port, 'GET', '/workers', undefined, ADMIN)).body.toString()) as { workers: { name: string }[] };
    assert.deepEqual(after.workers.map((w) => w.name).sort(), [`127.0.0.1:${dec.port}`, 'pre-2'].sort());

    colocated = await startServe(['--workers', dec.url, '--admin-key', 'admin-secret'], 60_000);
    const refused = await call(colocated.port, 'POST', '/workers', JSON.stringify({ url: pre1.url, role: 'prefill' }), ADMIN);
    assert.equal(refused.status, 400);
    assert.match(refused.body.toString(), /role prefill needs a disaggregated serve/);
  } finally {
    await Promise.all([stop(serve), stop(colocated)]);
    await Promise.all([stopMock(pre1), stopMock(pre2), stopMock(dec)]);
  }
});
