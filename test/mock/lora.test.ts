import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { parsePrometheusText } from '../../src/util/prometheus-text.js';
import { loraRequestsInfo } from '../../src/serve/lora-metrics.js';
import { parseLoraModules } from '../../src/mock/lora.js';
import { UserError } from '../../src/util/errors.js';
import { testMock, postJson, words } from './helpers.js';
import { CLI, call, startMockProcess, startServe, stop, until, type Proc } from '../serve/helpers.js';

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

test('--lora-modules: name or name=path, comma-separated or repeated; bad or repeated names are user errors', () => {
  assert.deepEqual(parseLoraModules(['sql=/m/sql,chat', 'code=/m/code'], '--lora-modules'), [
    { name: 'sql', path: '/m/sql' },
    { name: 'chat', path: '/adapters/chat' },
    { name: 'code', path: '/m/code' },
  ]);
  assert.throws(() => parseLoraModules(['a,a'], '--lora-modules'), (e: unknown) => e instanceof UserError && /"a" is listed twice/.test(e.message));
  assert.throws(() => parseLoraModules(['=x'], '--lora-modules'), (e: unknown) => e instanceof UserError && /expected name or name=path/.test(e.message));
});

test('mock LoRA: adapters listed in /v1/models with their parent, served by name, unknown names 404; lora_requests_info never shows more running adapters than max_lora', { timeout: 60_000 }, async () => {
  const w = await testMock({ spec: { gpu: 'l20', engine: { max_loras: 2 } }, speedup: 2, loraModules: [{ name: 'a', path: '/m/a' }, { name: 'b', path: '/m/b' }, { name: 'c', path: '/m/c' }] });
  try {
    const models = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: { id: string; parent: string | null; root: string }[] };
    assert.deepEqual(models.data.map((m) => [m.id, m.parent, m.root]), [
      ['meta-llama/Llama-3.1-8B', null, 'meta-llama/Llama-3.1-8B'],
      ['a', 'meta-llama/Llama-3.1-8B', '/m/a'],
      ['b', 'meta-llama/Llama-3.1-8B', '/m/b'],
      ['c', 'meta-llama/Llama-3.1-8B', '/m/c'],
    ]);
    const unknown = await postJson(`${w.url}/v1/chat/completions`, { model: 'zzz', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(unknown.status, 404);
    await unknown.text();
    // Three adapters at once on two slots: the third waits, so a scrape shows it waiting.
    const seen: { running: string[]; waiting: string[]; max: number }[] = [];
    let done = false;
    const scraping = (async () => {
      while (!done) {
        const info = loraRequestsInfo(parsePrometheusText(await (await fetch(`${w.url}/metrics`)).text()));
        if (info) seen.push({ running: [...info.running], waiting: [...info.waiting], max: info.maxLoras });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all(['a', 'b', 'c', 'a', 'c'].map(async (model, i) => {
      const r = await postJson(`${w.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: words(200, `p${i}`) }], max_tokens: 40 });
      return { status: r.status, body: (await r.json()) as { model: string; usage: { completion_tokens: number } } };
    }));
    done = true;
    await scraping;
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200);
      assert.equal(a.body.model, ['a', 'b', 'c', 'a', 'c'][i]);
      assert.equal(a.body.usage.completion_tokens, 40);
    }
    assert.ok(seen.length > 0, 'the page has vllm:lora_requests_info');
    assert.ok(seen.every((s) => s.max === 2 && s.running.length <= 2), JSON.stringify(seen));
    assert.ok(seen.some((s) => s.running.length === 2 && s.waiting.length > 0), 'a third adapter waited for a slot');
    assert.ok(w.realtime.engine.lora !== null && w.realtime.engine.lora.loads >= 3);
  } finally {
    await w.close();
  }
});

test('serve in front of LoRA mock workers: adapter names in "model" are routed (lora-affinity), unknown names 404 from the worker', { timeout: 60_000 }, async () => {
  const start = (): Promise<{ url: string; child: ChildProcess }> =>
    startMockProcess(CLI, ['--gpu', 'l20', '--port', '0', '--speedup', '10', '--lora-modules', 'sql,chat,code', '--max-loras', '2'], procs);
  const [m1, m2] = await Promise.all([start(), start()]);
  let serve: Proc | undefined;
  try {
    serve = await startServe(['--workers', `${m1.url};name=m1,${m2.url};name=m2`, '--policy', 'lora-affinity', '--admin-key', 'k', '--scrape-interval', '0.1', '--log', 'off']);
    // serve takes "model" as an adapter once a worker reports LoRA serving in its scrape.
    assert.ok(await until(async () => {
      const ws = (JSON.parse((await call(serve!.port, 'GET', '/workers', undefined, { authorization: 'Bearer k' })).body.toString()) as { workers: { scraped: { lora?: unknown } | null }[] }).workers;
      return ws.every((x) => x.scraped?.lora !== undefined);
    }, 10_000), 'both workers scraped with LoRA info');
    const adapters = ['sql', 'chat', 'code', 'sql', 'sql', 'chat'];
    const results = await Promise.all(adapters.map((model, i) => call(serve!.port, 'POST', '/v1/chat/completions', JSON.stringify({ model, messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 3 }))));
    results.forEach((r, i) => {
      assert.equal(r.status, 200, r.body.toString());
      assert.equal((JSON.parse(r.body.toString()) as { model: string }).model, adapters[i]);
    });
    const missing = await call(serve.port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 }));
    assert.equal(missing.status, 404);
  } finally {
    await stop(serve);
  }
});
