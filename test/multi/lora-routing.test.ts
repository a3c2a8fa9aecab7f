import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loraAffinityScorer, loraResidencyScore, rendezvousWeight } from '../../src/routing/plugins/scorers/lora-affinity.js';
import { resolveOptions } from '../../src/routing/options.js';
import { createPolicyEnv } from '../../src/routing/env.js';
import type { PolicyContext, ScrapedLora, WorkerView } from '../../src/routing/types.js';
import { VirtualClock } from '../../src/util/clock.js';
import { childRng } from '../../src/util/rng.js';
import { loraRequestsInfo } from '../../src/serve/lora-metrics.js';
import { parsePrometheusText } from '../../src/util/prometheus-text.js';
import { EngineMetricsReader } from '../../src/serve/engine-metrics.js';
import { adapterSeed, cachedPromptHashes } from '../../src/workload/block-hash.js';

const view = (index: number, lora?: ScrapedLora): WorkerView => ({
  id: index,
  index,
  name: `w${index}`,
  gpu: 'g',
  model: 'm',
  profile: 'p',
  costUsdPerHour: 0,
  healthy: true,
  inFlight: 0,
  inFlightPromptTokens: 0,
  inPrefill: 0,
  ...(lora ? { scraped: { running: 0, waiting: 0, kvUsage: 0, atS: 0, lora } } : {}),
});
const ctx: PolicyContext = { clock: new VirtualClock(), rng: childRng(1, 't') };

function scorer(options: Record<string, unknown> = {}): (adapter: string | undefined, eps: WorkerView[]) => number[] {
  const s = loraAffinityScorer.create(resolveOptions(loraAffinityScorer.options, options, (k) => k, 'lora-affinity'), createPolicyEnv());
  return (adapter, eps) => {
    const out = new Float64Array(eps.length);
    s.score({ id: 'x', arrivalS: 0, inputTokens: 1, adapter }, eps, out, ctx);
    return Array.from(out);
  };
}

test("lora-affinity scores llm-d's way: running 1, waiting 0.6, room 0.8, full 0; no adapter scores 1 everywhere", () => {
  const eps = [
    view(0, { running: ['a', 'b'], waiting: [], maxLoras: 2 }),
    view(1, { running: ['b'], waiting: ['a'], maxLoras: 4 }),
    view(2, { running: ['b'], waiting: [], maxLoras: 4 }),
    view(3, { running: ['b', 'c'], waiting: ['d'], maxLoras: 3 }),
    view(4),
  ];
  assert.deepEqual(scorer()('a', eps), [1, 0.6, 0.8, 0, 0.8]);
  assert.deepEqual(scorer()(undefined, eps), [1, 1, 1, 1, 1]);
  assert.equal(loraResidencyScore('b', eps[3]), 1);
});

test('rendezvous placement: each adapter on its `replicas` highest-weight workers; removing a worker moves only what it held', () => {
  const eps = Array.from({ length: 6 }, (_, i) => view(i));
  const score = scorer({ placement: 'rendezvous', replicas: 2 });
  const holders = (adapter: string, list: WorkerView[]): string[] => list.filter((_, i) => score(adapter, list)[i] === 1).map((w) => w.name);
  for (let a = 0; a < 40; a++) {
    const ad = `adapter-${a}`;
    const before = holders(ad, eps);
    assert.equal(before.length, 2);
    const want = [...eps].sort((x, y) => rendezvousWeight(ad, y.name) - rendezvousWeight(ad, x.name)).slice(0, 2).map((w) => w.name).sort();
    assert.deepEqual([...before].sort(), want);
    const without = eps.filter((w) => w.name !== 'w3');
    const after = holders(ad, without);
    // Holders other than the removed worker keep the adapter.
    for (const h of before) if (h !== 'w3') assert.ok(after.includes(h), `${ad}: ${h} kept it`);
  }
});

test("serve reads vLLM's vllm:lora_requests_info: the newest series is the state", () => {
  const text = [
    '# HELP vllm:lora_requests_info Running stats on lora requests.',
    '# TYPE vllm:lora_requests_info gauge',
    'vllm:lora_requests_info{max_lora="4",running_lora_adapters="",waiting_lora_adapters=""} 1.7e9',
    'vllm:lora_requests_info{max_lora="4",running_lora_adapters="sql,chat",waiting_lora_adapters="math"} 1.7000001e9',
    'vllm:num_requests_running{model_name="m"} 2',
  ].join('\n');
  assert.deepEqual(loraRequestsInfo(parsePrometheusText(text)), { running: ['sql', 'chat'], waiting: ['math'], maxLoras: 4 });
  assert.equal(loraRequestsInfo(parsePrometheusText('vllm:num_requests_running 1\n')), undefined);
  const scraped = new EngineMetricsReader().read(text, 5);
  assert.deepEqual(scraped?.metrics.lora, { running: ['sql', 'chat'], waiting: ['math'], maxLoras: 4 });
});

test('prefix blocks are keyed by adapter: the same prompt under two adapters shares no block', () => {
  const prefix = { kind: 'blocks' as const, blockTokens: 16, hashIds: [1, 2, 3, 4] };
  const base = cachedPromptHashes({ prefix, inputTokens: 64 }, 16) ?? [];
  const a = cachedPromptHashes({ prefix, inputTokens: 64, adapter: 'a' }, 16) ?? [];
  const b = cachedPromptHashes({ prefix, inputTokens: 64, adapter: 'b' }, 16) ?? [];
  assert.equal(adapterSeed(undefined), 0);
  assert.equal(base.length, 4);
  for (const h of a) assert.ok(!base.includes(h) && !b.includes(h));
  assert.deepEqual(cachedPromptHashes({ prefix, inputTokens: 64, adapter: 'a' }, 16), a);
});
