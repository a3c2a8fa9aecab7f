import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import { parsePrometheusText, sampleSum, findSamples } from '../../src/util/prometheus-text.js';
import { fastTokenIds as tokenize } from '../../src/serve/tokenize.js';
import { testMock, sseData, postJson, words } from './helpers.js';

interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta?: { role?: string; content?: string }; text?: string; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
}

test('chat stream: role chunk, one chunk per token, finish_reason on the last, usage chunk with include_usage, then [DONE]', { timeout: 20_000 }, async () => {
  const w = await testMock();
  try {
    const res = await postJson(`${w.url}/v1/chat/completions`, {
      model: 'meta-llama/Llama-3.1-8B',
      messages: [{ role: 'user', content: words(40) }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = sseData(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    assert.equal(chunks.length, 1 + 5 + 1);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
      assert.equal(c.created, chunks[0].created);
      assert.equal(c.model, 'meta-llama/Llama-3.1-8B');
      assert.match(c.id, /^chatcmpl-/);
    }
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const content = chunks.slice(1, 6);
    content.forEach((c, i) => {
      assert.equal(c.choices.length, 1);
      assert.equal(typeof c.choices[0].delta?.content, 'string');
      assert.equal(c.choices[0].finish_reason, i === 4 ? 'length' : null);
      assert.equal('usage' in c, false, 'non-final chunks carry no usage key');
    });
    const last = chunks[6];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: { cached_tokens: 0 } });
    // The generated text is five tokens to the same tokenizer.
    assert.equal(tokenize(content.map((c) => c.choices[0].delta?.content).join('')).length, 5);
  } finally {
    await w.close();
  }
});

test('completions: stream without usage chunk, and non-streaming bodies for both endpoints', { timeout: 20_000 }, async () => {
  const w = await testMock();
  try {
    const s = await postJson(`${w.url}/v1/completions`, { prompt: words(20), max_tokens: 3, stream: true });
    const data = sseData(await s.text());
    assert.equal(data.length, 3 + 1);
    const chunks = data.slice(0, 3).map((d) => JSON.parse(d) as Chunk);
    for (const c of chunks) {
      assert.equal(c.object, 'text_completion');
      assert.equal(typeof c.choices[0].text, 'string');
      assert.equal(c.usage, undefined);
    }
    assert.equal(chunks[2].choices[0].finish_reason, 'length');

    const full = (await (await postJson(`${w.url}/v1/completions`, { prompt: words(20), max_tokens: 4 })).json()) as Chunk & { choices: { text: string }[] };
    assert.equal(full.object, 'text_completion');
    assert.equal(full.choices[0].finish_reason, 'length');
    assert.equal(tokenize(full.choices[0].text).length, 4);
    assert.equal(full.usage?.completion_tokens, 4);

    const chat = (await (await postJson(`${w.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 2 })).json()) as {
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    assert.equal(chat.object, 'chat.completion');
    assert.equal(chat.choices[0].message.role, 'assistant');
    assert.deepEqual([chat.usage.prompt_tokens, chat.usage.completion_tokens, chat.usage.total_tokens], [1, 2, 3]);

    // No max_tokens: the documented default output length (16 in this test's mock).
    const dflt = (await (await postJson(`${w.url}/v1/completions`, { prompt: 'hello' })).json()) as Chunk;
    assert.equal(dflt.usage?.completion_tokens, 16);

    const models = (await (await fetch(`${w.url}/v1/models`)).json()) as { object: string; data: { id: string; object: string; max_model_len: number }[] };
    assert.equal(models.object, 'list');
    assert.equal(models.data[0].id, 'meta-llama/Llama-3.1-8B');
    assert.equal((await fetch(`${w.url}/health`)).status, 200);
  } finally {
    await w.close();
  }
});

test('--tokenizer llama3 counts prompts with the Llama 3 BPE, BOS and chat template', { timeout: 30_000 }, async () => {
  const w = await testMock({ tokenizer: 'llama3' });
  try {
    const c = (await (await postJson(`${w.url}/v1/completions`, { prompt: 'Hello world', max_tokens: 1 })).json()) as Chunk;
    assert.equal(c.usage?.prompt_tokens, 3); // <|begin_of_text|> Hello ␣world
    const chat = (await (await postJson(`${w.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hello world' }], max_tokens: 1 })).json()) as Chunk;
    // BOS, <|start_header_id|>user<|end_header_id|>\n\n, Hello world, <|eot_id|>, assistant header.
    assert.equal(chat.usage?.prompt_tokens, 1 + 4 + 2 + 1 + 4);
  } finally {
    await w.close();
  }
});

test('bad requests get OpenAI-shaped errors with the HTTP status as code', { timeout: 20_000 }, async () => {
  const w = await testMock();
  try {
    const cases: [string, unknown, number, string | null][] = [
      ['/v1/chat/completions', '{not json', 400, null],
      ['/v1/chat/completions', { messages: [] }, 400, 'messages'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 400, 'max_tokens'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }, 400, 'stream_options'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], n: 2 }, 400, 'n'],
      ['/v1/completions', { prompt: 'x', max_tokens: 200_000 }, 400, 'max_tokens'],
      ['/v1/completions', { prompt: 'x', model: 'gpt-4' }, 404, 'model'],
      ['/v1/nothing', {}, 404, null],
    ];
    for (const [path, body, status, param] of cases) {
      const res = await postJson(`${w.url}${path}`, body);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body)}`);
      const j = (await res.json()) as { error: { message: string; type: string; param: string | null; code: number } };
      assert.deepEqual(Object.keys(j), ['error']);
      assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(j.error.code, status);
      assert.equal(j.error.param, param);
      assert.ok(j.error.message.length > 0);
    }
    assert.equal((await fetch(`${w.url}/v1/completions`)).status, 405);
  } finally {
    await w.close();
  }
});

test('timing is the engine model: an idle prefill takes exactly the roofline price, decode steps the decode price', { timeout: 20_000 }, async () => {
  const w = await testMock({ speedup: 5 });
  try {
    const d = resolveDeployment({ gpu: 'l20' });
    const cost = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
    const n = 300;
    await postJson(`${w.url}/v1/completions`, { prompt: words(n), max_tokens: 3 }).then((r) => r.text());
    const ttft = cost.seconds({ tokens: n, seqs: 1, prefillAttnPairs: n * (n / 2), prefillKvTokens: n, decodeKvTokens: 0 });
    const e2e = ttft + cost.decodeSeconds(1, n + 1) + cost.decodeSeconds(1, n + 2);
    assert.ok(Math.abs(w.metrics.ttft.sum - ttft) < 1e-9, `ttft ${w.metrics.ttft.sum} vs ${ttft}`);
    assert.ok(Math.abs(w.metrics.e2e.sum - e2e) < 1e-9, `e2e ${w.metrics.e2e.sum} vs ${e2e}`);
    assert.ok(Math.abs(w.metrics.itl.sum - (e2e - ttft)) < 1e-9);
    // The client sees the same time (wall × speedup) up to the HTTP round trip.
    const t0 = performance.now();
    await postJson(`${w.url}/v1/completions`, { prompt: words(n, 'other'), max_tokens: 3 }).then((r) => r.text());
    const wallS = (performance.now() - t0) / 1e3;
    assert.ok(wallS * 5 >= e2e * 0.99 && wallS * 5 < e2e + 1, `wall ${wallS} × 5 vs engine ${e2e}`);
  } finally {
    await w.close();
  }
});

test('prefix cache: a repeated prompt is served from cache (usage cached_tokens, vLLM counters)', { timeout: 20_000 }, async () => {
  const w = await testMock();
  try {
    const body = { messages: [{ role: 'user', content: words(100) }], max_tokens: 2, stream: true, stream_options: { include_usage: true } };
    const usageOf = async (): Promise<Chunk['usage']> => {
      const data = sseData(await (await postJson(`${w.url}/v1/chat/completions`, body)).text());
      return (JSON.parse(data[data.length - 2]) as Chunk).usage;
    };
    assert.equal((await usageOf())?.prompt_tokens_details?.cached_tokens, 0);
    // 100 tokens: 6 full blocks of 16; vLLM always recomputes at least the last token → 96 cached.
    assert.equal((await usageOf())?.prompt_tokens_details?.cached_tokens, 96);
    const fams = parsePrometheusText(await (await fetch(`${w.url}/metrics`)).text());
    assert.equal(sampleSum(fams, 'vllm:prefix_cache_queries_total'), 200);
    assert.equal(sampleSum(fams, 'vllm:prefix_cache_hits_total'), 96);
  } finally {
    await w.close();
  }
});

test('/metrics parses as Prometheus text with vLLM V1 names and labels, and SGLang names with --metrics-style sglang', { timeout: 20_000 }, async () => {
  for (const style of ['vllm', 'sglang'] as const) {
    const w = await testMock({ metricsStyle: style });
    try {
      await Promise.all([1, 2, 3].map((i) => postJson(`${w.url}/v1/completions`, { prompt: words(50, `s${i}`), max_tokens: 4 }).then((r) => r.text())));
      const res = await fetch(`${w.url}/metrics`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const fams = parsePrometheusText(await res.text());
      const byName = new Map(fams.map((f) => [f.name, f]));
      if (style === 'vllm') {
        for (const n of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:cache_config_info']) assert.equal(byName.get(n)?.type, 'gauge', n);
        for (const n of ['vllm:prefix_cache_hits_total', 'vllm:prefix_cache_queries_total', 'vllm:prompt_tokens_total', 'vllm:generation_tokens_total', 'vllm:num_preemptions_total']) assert.equal(byName.get(n)?.type, 'counter', n);
        for (const n of ['vllm:time_to_first_token_seconds', 'vllm:e2e_request_latency_seconds', 'vllm:inter_token_latency_seconds']) assert.equal(byName.get(n)?.type, 'histogram', n);
        for (const f of fams) for (const s of f.samples) assert.deepEqual([s.labels.model_name, s.labels.engine], ['meta-llama/Llama-3.1-8B', '0'], s.name);
        const info = findSamples(fams, 'vllm:cache_config_info')[0];
        assert.equal(info.value, 1);
        const d = resolveDeployment({ gpu: 'l20' });
        assert.equal(info.labels.num_gpu_blocks, String(d.engine.numGpuBlocks));
        assert.equal(info.labels.block_size, '16');
        assert.equal(info.labels.enable_prefix_caching, 'True');
        assert.equal(sampleSum(fams, 'vllm:prompt_tokens_total'), 150);
        assert.equal(sampleSum(fams, 'vllm:generation_tokens_total'), 12);
        assert.equal(sampleSum(fams, 'vllm:e2e_request_latency_seconds_count'), 3);
        assert.equal(sampleSum(fams, 'vllm:request_success_total', { finished_reason: 'length' }), 3);
        assert.equal(sampleSum(fams, 'vllm:num_requests_running'), 0);
      } else {
        for (const n of ['sglang:num_running_reqs', 'sglang:num_queue_reqs', 'sglang:token_usage', 'sglang:cache_hit_rate', 'sglang:max_total_num_tokens']) assert.equal(byName.get(n)?.type, 'gauge', n);
        assert.equal(byName.get('sglang:time_to_first_token_seconds')?.type, 'histogram');
        assert.equal(sampleSum(fams, 'sglang:prompt_tokens_total'), 150);
        assert.equal(sampleSum(fams, 'sglang:num_requests_total'), 3);
        assert.equal(byName.has('vllm:num_requests_running'), false);
      }
    } finally {
      await w.close();
    }
  }
});

test('a client that goes away is aborted in the engine', { timeout: 20_000 }, async () => {
  const w = await testMock({ speedup: 1 });
  try {
    const ac = new AbortController();
    const res = await fetch(`${w.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: words(30), max_tokens: 5000, stream: true }), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(w.realtime.engine.numRunning, 1);
    ac.abort();
    await new Promise((r) => setTimeout(r, 200));
    w.realtime.sync();
    assert.equal(w.realtime.engine.numRunning, 0);
    assert.equal(w.metrics.success.abort, 1);
    assert.equal(w.realtime.engine.pool.used, 0);
  } finally {
    await w.close();
  }
});

test('faults: error rate, slow start, stall, crash after N requests', { timeout: 20_000 }, async () => {
  const req = { prompt: 'hello world', max_tokens: 3 };
  let w = await testMock({ faults: { errorRate: 1 } });
  try {
    const r = await postJson(`${w.url}/v1/completions`, req);
    assert.equal(r.status, 500);
    assert.equal(((await r.json()) as { error: { code: number } }).error.code, 500);
  } finally {
    await w.close();
  }
  w = await testMock({ faults: { slowStartMs: 400 } });
  try {
    assert.equal((await fetch(`${w.url}/health`)).status, 503);
    assert.equal((await postJson(`${w.url}/v1/completions`, req)).status, 503);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await fetch(`${w.url}/health`)).status, 200);
    assert.equal((await postJson(`${w.url}/v1/completions`, req)).status, 200);
  } finally {
    await w.close();
  }
  w = await testMock({ faults: { stallMs: 300 } });
  try {
    const t0 = performance.now();
    const data = sseData(await (await postJson(`${w.url}/v1/completions`, { ...req, stream: true })).text());
    assert.ok(performance.now() - t0 >= 300);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(data.length, 4);
  } finally {
    await w.close();
  }
  let crashed = 0;
  w = await testMock({ faults: { crashAfter: 1 }, crash: () => { crashed++; } });
  try {
    assert.equal((await postJson(`${w.url}/v1/completions`, req)).status, 200);
    const second = postJson(`${w.url}/v1/completions`, { ...req }).catch(() => 'failed');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(crashed, 1);
    void second;
  } finally {
    await w.close();
  }
});

test('CLI: mock-worker prints its URL, serves, exits 0 on SIGTERM; a missing --gpu is a one-line user error', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'mock-worker', '--gpu', 'l20', '--port', '0', '--speedup', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (s: string) => {
        out += s;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error('exited early')));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const r = (await (await postJson(`${url}/v1/completions`, { prompt: 'a b c', max_tokens: 2 })).json()) as Chunk;
    assert.equal(r.usage?.total_tokens, 5);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const bad = spawn(process.execPath, ['dist/src/cli/main.js', 'mock-worker', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.setEncoding('utf8');
  bad.stderr.on('data', (s: string) => (err += s));
  const [code] = (await once(bad, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.equal(err, 'router: mock-worker: give --gpu (e.g. --gpu l20) or --profile\n');
});
