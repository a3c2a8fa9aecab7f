import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, startServe, stop, until, type Proc, type RawResponse } from './helpers.js';
import { logLines, received, startMock, stopMock, type MockProc } from './pd-helpers.js';

/** Failures of disaggregated serving: nothing the client sent may be lost. */

const N = 12;
const MAX_TOKENS = 6;

const body = (i: number): string =>
  JSON.stringify({ messages: [{ role: 'user', content: `request ${i}: ${'a prompt long enough to span a few KV blocks '.repeat(6)}` }], max_tokens: MAX_TOKENS, stream: true });

/** A complete stream: MAX_TOKENS content chunks, then [DONE]. */
function assertComplete(r: RawResponse, i: number): void {
  assert.equal(r.status, 200, `request ${i}: ${r.body.toString().slice(0, 300)}`);
  const text = r.body.toString();
  assert.equal((text.match(/"content":" /g) ?? []).length, MAX_TOKENS, `request ${i} got every token`);
  assert.match(text, /data: \[DONE\]\n\n$/);
  assert.doesNotMatch(text, /"error"/);
}

for (const protocol of ['vllm', 'sglang'] as const) {
  test(`${protocol}: a prefill worker killed mid-run loses no request (its prefills are retried elsewhere, decodes that lost their KV re-run the pair)`, { timeout: 180_000 }, async () => {
    let good: MockProc | undefined;
    let doomed: MockProc | undefined;
    let dec: MockProc | undefined;
    let serve: Proc | undefined;
    try {
      // The doomed worker exits (code 70) when its 4th request arrives, cutting whatever it holds.
      [good, doomed, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'prefill', '--crash-after', '3']), startMock(['--role', 'decode'])]);
      const pre = (m: MockProc): string[] => (protocol === 'sglang' ? [m.url, String(m.port)] : [m.url]);
      serve = await startServe(['--pd-protocol', protocol, '--prefill', ...pre(good), ...pre(doomed), '--decode', dec.url, '--prefill-policy', 'round-robin', '--log', '-', '--health-interval', '0.3', '--retry-backoff-ms', '10', '--max-attempts', '5'], 60_000);
      const results = await Promise.all(Array.from({ length: N }, (_, i) => call(serve?.port ?? 0, 'POST', '/v1/chat/completions', body(i), {}, 30_000)));
      results.forEach(assertComplete);
      assert.equal(await doomed.exited, 70, 'the prefill worker crashed mid-run');
      const srv = serve;
      assert.ok(await until(() => logLines(srv.stdout()).length === N));
      const lines = logLines(serve.stdout());
      assert.ok(lines.every((l) => l.status === 200));
      // Every request was decoded once in the end, and the survivor did the prefills the doomed one lost.
      const d = await received(dec);
      assert.ok(d.counts.decodes >= N, `decodes ${d.counts.decodes}`);
      const g = await received(good);
      assert.ok(g.counts.prefills >= N - 3, `the surviving prefill worker prefilled ${g.counts.prefills}`);
    } finally {
      await stop(serve);
      await Promise.all([stopMock(good), stopMock(doomed), stopMock(dec)]);
    }
  });
}

test('vllm: a decode failure before the first byte re-runs the pair (a new prefill, then a decode elsewhere)', { timeout: 180_000 }, async () => {
  let pre: MockProc | undefined;
  let bad: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  try {
    // One decode worker fails every request with a 500 before sending anything.
    [pre, bad, dec] = await Promise.all([startMock(['--role', 'prefill']), startMock(['--role', 'decode', '--error-rate', '1']), startMock(['--role', 'decode'])]);
    serve = await startServe(['--prefill', pre.url, '--decode', `${bad.url};name=bad`, `${dec.url};name=good`, '--policy', 'round-robin', '--log', '-', '--health-interval', '0.5', '--retry-backoff-ms', '10'], 60_000);
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => call(serve?.port ?? 0, 'POST', '/v1/chat/completions', body(i), {}, 30_000)));
    results.forEach(assertComplete);
    const srv = serve;
    assert.ok(await until(() => logLines(srv.stdout()).length === 4));
    const lines = logLines(serve.stdout());
    const retried = lines.filter((l) => l.attempts === 2);
    assert.ok(retried.length >= 1, 'round-robin sent some request to the failing decode worker first');
    assert.ok(lines.every((l) => l.worker === 'good'));
    // Each failed decode cost its pair: the prefill ran once per attempt.
    const attempts = lines.reduce((s, l) => s + (l.attempts as number), 0);
    assert.equal((await received(pre)).counts.prefills, attempts);
    assert.equal((await received(dec)).counts.decodes, 4);
  } finally {
    await stop(serve);
    await Promise.all([stopMock(pre), stopMock(bad), stopMock(dec)]);
  }
});

test('vllm: a client that leaves during the prefill aborts the prefill call; no decode is sent, nothing stays in flight', { timeout: 180_000 }, async () => {
  let pre: MockProc | undefined;
  let dec: MockProc | undefined;
  let serve: Proc | undefined;
  try {
    // The prefill worker holds every answer 30 s after its (only) token: only an abort frees the call sooner.
    [pre, dec] = await Promise.all([startMock(['--role', 'prefill', '--stall-ms', '30000']), startMock(['--role', 'decode'])]);
    serve = await startServe(['--prefill', pre.url, '--decode', dec.url, '--log', '-', '--health-interval', '0.5'], 60_000);
    const srv = serve;
    const p0 = pre;
    const gone = call(serve.port, 'POST', '/v1/chat/completions', body(1), {}, 300);
    await assert.rejects(gone, /timeout/);
    const inFlight = async (): Promise<string> => (await call(srv.port, 'GET', '/metrics')).body.toString();
    assert.ok(await until(async () => /^router_pd_prefill_worker_in_flight\{[^}]*\} 0$/m.test(await inFlight())), 'the prefill call was released');
    assert.ok(await until(() => logLines(srv.stdout()).length === 1));
    assert.equal(logLines(serve.stdout())[0].status, 499);
    assert.equal((await received(p0)).bodies.length, 1);
    assert.equal((await received(dec)).bodies.length, 0);
  } finally {
    await stop(serve);
    await Promise.all([stopMock(pre), stopMock(dec)]);
  }
});
