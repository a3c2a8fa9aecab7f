import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { CircuitBreaker } from '../../src/serve/circuit-breaker.js';
import { backoffMs, isRetryableStatus } from '../../src/serve/backoff.js';
import { EngineMetricsReader } from '../../src/serve/engine-metrics.js';
import { readInferenceBody, parseJsonObject } from '../../src/serve/parse-body.js';
import { HttpError } from '../../src/serve/openai-error.js';
import { parseServeConfig, parseWorkersFlag } from '../../src/serve/worker-spec.js';
import { fastTokenCount, fastTokenIds, fastTokenIdsAsync } from '../../src/serve/tokenize.js';
import { TraceRecorder } from '../../src/serve/recorder.js';
import { ExcludingPolicy } from '../../src/serve/exclude-policy.js';
import { RollingWindow } from '../../src/serve/rolling.js';
import { BearerKey } from '../../src/serve/auth.js';
import { createPolicy } from '../../src/routing/registry.js';
import { createRng } from '../../src/util/rng.js';
import { parseNativeLine } from '../../src/workload/native-jsonl.js';
import type { WorkerView } from '../../src/routing/types.js';

test('circuit breaker: closed → open after N consecutive failures → half-open single probe → closed', () => {
  let now = 0;
  const b = new CircuitBreaker({ failureThreshold: 3, successThreshold: 2, openS: 10 }, () => now);
  b.failure();
  b.failure();
  b.success(); // resets the consecutive count
  b.failure();
  b.failure();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.allows(), false);
  now = 9.9;
  assert.equal(b.allows(), false);
  assert.ok(Math.abs(b.reopensInS() - 0.1) < 1e-9);
  now = 10;
  assert.equal(b.allows(), true);
  assert.equal(b.state, 'half-open');
  b.onSend();
  assert.equal(b.allows(), false, 'one probe at a time');
  b.success();
  assert.equal(b.state, 'half-open');
  assert.equal(b.allows(), true);
  b.onSend();
  b.failure();
  assert.equal(b.state, 'open', 'a failed probe reopens');
  now = 20;
  assert.equal(b.allows(), true);
  b.onSend();
  b.neutral(); // client left: the probe slot frees, no verdict
  assert.equal(b.allows(), true);
  b.onSend();
  b.success();
  b.onSend();
  b.success();
  assert.equal(b.state, 'closed');
  const off = new CircuitBreaker({ failureThreshold: 0, successThreshold: 1, openS: 1 }, () => 0);
  for (let i = 0; i < 100; i++) off.failure();
  assert.equal(off.state, 'closed');
});

test('backoff grows by the multiplier, is capped, and jitters within ±j', () => {
  const rng = createRng(1);
  const o = { initialMs: 50, maxMs: 200, multiplier: 2, jitter: 0.2 };
  for (let i = 0; i < 200; i++) {
    const d0 = backoffMs(o, 0, rng);
    assert.ok(d0 >= 40 && d0 <= 60);
    const d5 = backoffMs(o, 5, rng);
    assert.ok(d5 >= 160 && d5 <= 240);
  }
  assert.equal(backoffMs({ ...o, jitter: 0 }, 1, rng), 100);
  assert.deepEqual([400, 408, 429, 500, 501, 502, 503, 504].map(isRetryableStatus), [false, true, true, true, false, true, true, true]);
});

test('engine metrics: vLLM V1 names, counter-delta hit rate, KV capacity from cache_config_info', () => {
  const page = (hits: number, queries: number): string => `# HELP vllm:num_requests_running x
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_waiting{engine="0",model_name="m"} 2.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:prefix_cache_queries_total{engine="0",model_name="m"} ${queries}
vllm:prefix_cache_hits_total{engine="0",model_name="m"} ${hits}
vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="0",num_gpu_blocks="27264"} 1.0
vllm:num_requests_running_other 99
`;
  const r = new EngineMetricsReader();
  const a = r.read(page(100, 1000), 1)!;
  assert.deepEqual(a.metrics, { running: 3, waiting: 2, kvUsage: 0.25, atS: 1 });
  assert.equal(a.kvCapacityTokens, 27264 * 16);
  assert.equal(a.blockSize, 16);
  const b = r.read(page(400, 1400), 2)!;
  assert.equal(b.metrics.prefixHitRate, 300 / 400);
  // An engine restart (counters go back) gives no rate rather than a negative one.
  assert.equal(r.read(page(10, 20), 3)!.metrics.prefixHitRate, undefined);
});

test('engine metrics: vLLM V0 and deprecated names, several engines summed', () => {
  const r = new EngineMetricsReader();
  const s = r.read(
    `vllm:num_requests_running{model_name="m"} 4
vllm:num_requests_running{model_name="m2"} 1
vllm:num_requests_waiting{model_name="m"} 0
vllm:gpu_cache_usage_perc{model_name="m"} 0.5
vllm:gpu_cache_usage_perc{model_name="m2"} 0.7
vllm:gpu_prefix_cache_hit_rate{model_name="m"} 0.4
`,
    5,
  )!;
  assert.equal(s.metrics.running, 5);
  assert.ok(Math.abs(s.metrics.kvUsage - 0.6) < 1e-12);
  assert.equal(s.metrics.prefixHitRate, 0.4);
});

test('engine metrics: SGLang names, pool size as KV capacity; pages without known gauges are ignored', () => {
  const r = new EngineMetricsReader();
  const s = r.read(
    `sglang:num_running_reqs{model_name="m",tp_rank="0"} 7.0
sglang:num_queue_reqs{model_name="m",tp_rank="0"} 11.0
sglang:token_usage{model_name="m",tp_rank="0"} 0.83
sglang:cache_hit_rate{model_name="m",tp_rank="0"} 0.31
sglang:max_total_num_tokens{model_name="m",tp_rank="0"} 500000
`,
    1,
  )!;
  assert.deepEqual(s.metrics, { running: 7, waiting: 11, kvUsage: 0.83, prefixHitRate: 0.31, atS: 1 });
  assert.equal(s.kvCapacityTokens, 500000);
  assert.equal(new EngineMetricsReader().read('process_cpu_seconds_total 3\n', 1), undefined);
});

test('request bodies: chat joined with spaces as SGLang does, content parts, prompt variants', () => {
  const chat = readInferenceBody('chat', {
    model: 'm',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'image_url', image_url: {} }, { type: 'text', text: 'there' }] },
      { role: 'assistant', content: null },
    ],
    stream: true,
    max_tokens: 9,
  });
  assert.equal(chat.text, 'Be brief. Hello there ');
  assert.equal(chat.stream, true);
  assert.equal(chat.maxTokens, 9);
  assert.deepEqual(chat.messages?.map((m) => m.role), ['system', 'user', 'assistant']);
  assert.equal(readInferenceBody('completion', { prompt: 'abc' }).text, 'abc');
  assert.equal(readInferenceBody('completion', { prompt: ['a', 'b'] }).text, 'a b');
  assert.deepEqual(readInferenceBody('completion', { prompt: [5, 6] }).tokenIds, [5, 6]);
  assert.deepEqual(readInferenceBody('completion', { prompt: [[1], [2, 3]] }).tokenIds, [1, 2, 3]);
  assert.equal(readInferenceBody('chat', { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 4 }).maxTokens, 4);
  const err = (f: () => unknown): HttpError => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof HttpError);
      return e;
    }
    throw new Error('expected an HttpError');
  };
  assert.equal(err(() => parseJsonObject(Buffer.from('[1]'))).status, 400);
  assert.equal(err(() => readInferenceBody('chat', { messages: [{ role: 'user', content: 1 }] })).param, 'messages[0].content');
  assert.equal(err(() => readInferenceBody('completion', { prompt: [] })).param, 'prompt');
  assert.equal(err(() => readInferenceBody('chat', { messages: [{ role: 'u', content: 'x' }], max_tokens: 0 })).param, 'max_tokens');
});

test('fast tokenizer: hand-checked pieces, deterministic ids, shared text prefix gives shared id prefix', () => {
  // "Hello" "," " world" "!" "\n\n" " 123" "4" " internationalization" (21 chars → 3)
  assert.equal(fastTokenIds('Hello, world!\n\n 1234 internationalization').length, 1 + 1 + 1 + 1 + 1 + 1 + 1 + 3);
  const a = fastTokenIds('You are a helpful assistant. Question one?');
  const b = fastTokenIds('You are a helpful assistant. Another question');
  assert.deepEqual(Array.from(a.subarray(0, 6)), Array.from(b.subarray(0, 6)));
  assert.notEqual(a[6], b[6]);
  assert.deepEqual(fastTokenIds('same text'), fastTokenIds('same text'));
  assert.equal(fastTokenIds('').length, 0);
});

test('fast tokenizer: pieces read through lastIndex equal the regex matches, on random text of every character class', () => {
  // The reference: every match of the piece pattern, one token per started 10 characters (hashed).
  const piece = / ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+(?!\S)|\s+/gu;
  const reference = (text: string): number[] => {
    const ids: number[] = [];
    for (const m of text.matchAll(piece)) {
      for (let i = m.index; i < m.index + m[0].length; i += 10) {
        let h = 0x811c9dc5;
        for (let j = i; j < Math.min(m.index + m[0].length, i + 10); j++) h = Math.imul(h ^ text.charCodeAt(j), 0x01000193);
        ids.push(h >>> 0);
      }
    }
    return ids;
  };
  const alphabet = ['a', 'Z', 'q', '7', '0', ' ', ' ', '  ', '\n', '\t', '\u00a0', '\u3000', '\u2028', ',', '!', 'é', '日', '😀', '\ud800', '\udc00', '-', '_'];
  const rng = createRng(11);
  for (let k = 0; k < 400; k++) {
    let text = '';
    const len = Math.floor(rng.next() * 60);
    for (let i = 0; i < len; i++) text += rng.next() < 0.3 ? 'internationalization'.slice(0, Math.floor(rng.next() * 21)) : alphabet[Math.floor(rng.next() * alphabet.length)];
    const want = reference(text);
    assert.deepEqual(Array.from(fastTokenIds(text)), want, JSON.stringify(text));
    assert.equal(fastTokenCount(text), want.length, JSON.stringify(text));
  }
});

test('--workers labels and --config files', () => {
  const ws = parseWorkersFlag('http://a:8000;gpu=h100-sxm;cost=2.5;name=big, http://b:9000/prefix/');
  assert.deepEqual(ws, [
    { url: 'http://a:8000', gpu: 'h100-sxm', costUsdPerHour: 2.5, name: 'big', profile: 'llama-3.1-8b@h100-sxm' },
    { url: 'http://b:9000/prefix' },
  ]);
  assert.throws(() => parseWorkersFlag('ftp://x'), /must be http/);
  assert.throws(() => parseWorkersFlag('http://a;colour=red'), /unknown label "colour"/);
  assert.throws(() => parseWorkersFlag('http://a;cost=cheap'), /non-negative number/);
  const dir = mkdtempSync(join(tmpdir(), 'serve-cfg-'));
  try {
    const yaml = join(dir, 'fleet.yaml');
    writeFileSync(yaml, 'workers:\n  - url: http://10.0.0.1:8000\n    gpu: l20\n    cost: 1.2\n  - url: http://10.0.0.2:8000\npolicy: round-robin\npolicy_opts:\n  x: 1\n');
    const cfg = parseServeConfig(yaml);
    assert.equal(cfg.workers.length, 2);
    assert.equal(cfg.workers[0].costUsdPerHour, 1.2);
    assert.equal(cfg.policy, 'round-robin');
    assert.deepEqual(cfg.policyOpts, { x: '1' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ workers: [{ url: 'http://x', gpus: 'h100' }] }));
    assert.throws(() => parseServeConfig(bad), /workers\[0\]\.gpus: unknown field/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trace recorder writes in arrival order whatever the completion order, readable as native JSONL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-rec-'));
  try {
    const path = join(dir, 't.jsonl');
    const rec = new TraceRecorder(path, false);
    const seqs = [rec.arrive(), rec.arrive(), rec.arrive()];
    const req = (i: number) => ({ id: `r${i}`, arrivalS: i * 0.5, inputTokens: 32, outputTokens: 5 + i, text: 'secret', prefix: { kind: 'blocks' as const, blockTokens: 16, hashIds: [i, i + 100] } });
    rec.finish(seqs[2], req(2));
    assert.equal(rec.written, 0);
    rec.finish(seqs[0], req(0));
    assert.equal(rec.written, 1);
    rec.finish(seqs[1], req(1));
    rec.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const parsed = lines.map((l, i) => parseNativeLine(path, i + 1, l));
    assert.deepEqual(parsed.map((r) => r.id), ['r0', 'r1', 'r2']);
    assert.deepEqual(parsed.map((r) => r.outputTokens), [5, 6, 7]);
    assert.ok(parsed.every((r) => r.text === undefined));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('retries are re-routed away from workers that failed the request, unless none is left', () => {
  const view = (index: number): WorkerView => ({ id: index, index, name: `w${index}`, gpu: 'g', model: 'm', profile: 'p', costUsdPerHour: 0, healthy: true, inFlight: 0, inFlightPromptTokens: 0, inPrefill: 0 });
  const ws = [view(0), view(1), view(2)];
  const p = new ExcludingPolicy(createPolicy('least-request'));
  const ctx = { clock: { now: () => 0 }, rng: createRng(3) };
  const req = { id: 'x', arrivalS: 0, inputTokens: 1 };
  p.excluded.set('x', new Set([0, 2]));
  for (let i = 0; i < 20; i++) assert.equal(p.pick(req, ws, ctx)?.worker, 1);
  p.excluded.set('x', new Set([0, 1, 2]));
  const seen = new Set<number>();
  for (let i = 0; i < 60; i++) seen.add(p.pick(req, ws, ctx)!.worker);
  assert.equal(seen.size, 3);
});

test('rolling window keeps only the last window of samples', () => {
  const w = new RollingWindow(10);
  for (let t = 0; t < 20; t++) w.add(t, t);
  const s = w.stats(20)!;
  assert.equal(s.count, 10);
  assert.equal(s.p50, 14.5);
  assert.equal(w.stats(100), undefined);
});

test('bearer keys: exact match only', () => {
  const k = new BearerKey('s3cret');
  const req = (h?: string): IncomingMessage => ({ headers: h === undefined ? {} : { authorization: h } }) as IncomingMessage;
  assert.equal(k.accepts(req('Bearer s3cret')), true);
  assert.equal(k.accepts(req('bearer s3cret')), true);
  assert.equal(k.accepts(req('Bearer s3cre')), false);
  assert.equal(k.accepts(req('Bearer s3cretX')), false);
  assert.equal(k.accepts(req('s3cret')), false);
  assert.equal(k.accepts(req()), false);
});

test('big prompts: tokenized across event-loop turns with the same ids as in one go; counts without ids agree', async () => {
  const words = ['alpha', ' beta', '  gamma', '\n\nDelta', ' 12345', ',', ' internationalization', '\t', ' x'];
  let text = '';
  for (let i = 0; text.length < 600_000; i++) text += words[(i * 7) % words.length];
  const whole = fastTokenIds(text);
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const sliced = await fastTokenIdsAsync(text, 4096);
  clearInterval(ticker);
  assert.deepEqual(Array.from(sliced), Array.from(whole));
  assert.ok(turns > 0, 'other work ran while the prompt was tokenized');
  assert.equal(fastTokenCount(text), whole.length);
  for (const t of ['', 'a', 'Hello, world!\n\n 1234 internationalization', '   ', 'x  y']) {
    assert.equal(fastTokenCount(t), fastTokenIds(t).length, JSON.stringify(t));
    assert.deepEqual(Array.from(await fastTokenIdsAsync(t, 1)), Array.from(fastTokenIds(t)), JSON.stringify(t));
  }
});
