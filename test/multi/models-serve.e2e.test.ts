import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { CLI, call, chatBody, startMockProcess, startServe, stop, type Proc } from '../serve/helpers.js';

/** serve in front of two real mock workers serving different models: every request reaches its model's worker. */
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const startMock = (model: string): Promise<{ url: string; child: ChildProcess }> =>
  startMockProcess(CLI, ['--gpu', 'h100-sxm', '--model', model, '--port', '0', '--speedup', '20'], procs);

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await gone;
}

test('two-model fleet in serve: requests reach a worker of their model, /v1/models lists the union, unknown models get 404', { timeout: 90_000 }, async () => {
  const [a1, a2, b] = await Promise.all([startMock('llama-3.1-8b'), startMock('llama-3.1-8b'), startMock('qwen3-8b')]);
  let serve: Proc | undefined;
  try {
    serve = await startServe(['--workers', `${a1.url};name=a1;model=llama-3.1-8b,${a2.url};name=a2;model=llama-3.1-8b,${b.url};name=b;model=qwen3-8b`, '--worker-header', '--log', 'off', '--health-interval', '0.5'], 60_000);
    const models = await call(serve.port, 'GET', '/v1/models');
    assert.equal(models.status, 200);
    const list = JSON.parse(models.body.toString()) as { object: string; data: { id: string; object: string; workers: number; aliases: string[] }[] };
    assert.equal(list.object, 'list');
    assert.deepEqual(list.data.map((m) => [m.id, m.object, m.workers]), [['llama-3.1-8b', 'model', 2], ['qwen3-8b', 'model', 1]]);
    assert.deepEqual(list.data[1].aliases, ['Qwen/Qwen3-8B']);
    // Catalog ids and Hugging Face names alike; the mock itself answers 404 to a model it does not serve.
    const asks = Array.from({ length: 24 }, (_, i) => ['llama-3.1-8b', 'qwen3-8b', 'meta-llama/Llama-3.1-8B', 'Qwen/Qwen3-8B'][i % 4]);
    const results = await Promise.all(asks.map((model, i) => call(serve!.port, 'POST', '/v1/chat/completions', chatBody(`hello ${i}`, { model, max_tokens: 3, stream: i % 3 === 0 }))));
    const seen = new Map<string, Set<string>>();
    results.forEach((r, i) => {
      assert.equal(r.status, 200, r.body.toString());
      const worker = String(r.headers['x-router-worker']);
      const want = asks[i].toLowerCase().includes('qwen') ? 'qwen3-8b' : 'llama-3.1-8b';
      let s = seen.get(want);
      if (!s) seen.set(want, (s = new Set()));
      s.add(worker);
    });
    assert.deepEqual([...(seen.get('qwen3-8b') ?? [])], ['b']);
    assert.deepEqual([...(seen.get('llama-3.1-8b') ?? [])].sort(), ['a1', 'a2']);
    const unknown = await call(serve.port, 'POST', '/v1/chat/completions', chatBody('who?', { model: 'gpt-4', max_tokens: 3 }));
    assert.equal(unknown.status, 404);
    const err = (JSON.parse(unknown.body.toString()) as { error: { type: string; code: string; param: string; message: string } }).error;
    assert.deepEqual([err.type, err.code, err.param], ['not_found_error', 'model_not_found', 'model']);
    assert.match(err.message, /gpt-4/);
    // And the server keeps serving.
    assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody('still here', { model: 'qwen3-8b', max_tokens: 2 }))).status, 200);
  } finally {
    await stop(serve);
    await Promise.all([a1, a2, b].map((m) => stopChild(m.child)));
  }
});
