import { request, type Agent } from 'undici';
import type { DecodeObservation, PrefillObservation } from '../profiles/measure.js';
import { parsePrometheusText } from '../util/prometheus-text.js';
import { engineCacheInfo } from '../metrics/engine-cache.js';
import { createAgent, discoverModel, streamCompletion, type StreamResult } from './client.js';
import { synthesizePrompt } from './prompt.js';

/** What the endpoint says about itself (vLLM cache_config_info, SGLang's pool size). */
export interface EndpointFacts {
  model?: string;
  blockSize?: number;
  numGpuBlocks?: number;
  gpuMemoryUtilization?: number;
  enablePrefixCaching?: boolean;
  /** KV capacity in tokens, when the endpoint reports it. */
  kvTokens?: number;
}

export interface SweepOptions {
  target: string;
  /** The endpoint runs this many times faster than real time (a mock worker's --speedup). */
  speedup: number;
  /** Chunked-prefill budget assumed for the endpoint. */
  maxNumBatchedTokens: number;
  /** KV capacity to plan with when the endpoint does not report one. */
  fallbackKvTokens: number;
  maxModelLen: number;
  /** Largest batch the sweep may form (the endpoint's max_num_seqs, or less). */
  maxBatch: number;
  log?: (line: string) => void;
}

export interface SweepResult {
  facts: EndpointFacts;
  prefill: PrefillObservation[];
  decode: DecodeObservation[];
  wallS: number;
}

export async function endpointFacts(agent: Agent, base: string): Promise<EndpointFacts> {
  const facts: EndpointFacts = { model: await discoverModel(agent, base) };
  try {
    const resp = await request(`${base}/metrics`, { dispatcher: agent, signal: AbortSignal.timeout(10_000) });
    if (resp.statusCode !== 200) {
      await resp.body.dump();
      return facts;
    }
    const { kvCapacityTokens, ...cache } = engineCacheInfo(parsePrometheusText(await resp.body.text()));
    Object.assign(facts, cache);
    if (kvCapacityTokens !== undefined) facts.kvTokens = kvCapacityTokens;
  } catch {
    // An endpoint without a readable /metrics is measured with the fallback capacity.
  }
  return facts;
}

let uniq = 0;
/** A prompt of exactly n tokens that no earlier request shares (so nothing hits the cache). */
function freshPrompt(n: number): string {
  return synthesizePrompt({ id: `measure-${process.pid}-${Date.now()}-${uniq++}`, arrivalS: 0, inputTokens: n, outputTokens: 1 });
}

/**
 * Extracts the pure-decode stretch of a batch sent together: from the step in which the last
 * request got its first token to the step in which the first request got its last token, every
 * step decodes all of them. The step time is a median of lagged slopes (t[k+h] − t[k]) / h with
 * h a third of the stretch, pooled over the requests: a stall of the client or the server delays a
 * burst of timestamps, and a median over many spans that mostly miss the burst ignores it.
 */
export function decodeWindow(results: StreamResult[], promptTokens: number[]): (DecodeObservation & { consistent: boolean }) | undefined {
  const b = results.length;
  const tA = Math.max(...results.map((r) => r.firstTokenAt));
  const tB = Math.min(...results.map((r) => r.tokenTimes[r.tokenTimes.length - 1]));
  const slopes: number[] = [];
  const early: number[] = [];
  const late: number[] = [];
  let steps = 0;
  for (const r of results) {
    const t = r.tokenTimes;
    let k0 = 0;
    while (k0 < t.length && t[k0] < tA) k0++;
    let k1 = t.length - 1;
    while (k1 >= 0 && t[k1] > tB) k1--;
    const n = k1 - k0;
    if (n < 16) continue;
    steps = Math.max(steps, n);
    const h = Math.floor(n / 3);
    for (let k = k0; k + h <= k1; k++) {
      const s = (t[k + h] - t[k]) / h;
      slopes.push(s);
      (k - k0 < (n - h) / 2 ? early : late).push(s);
    }
  }
  if (slopes.length === 0) return undefined;
  const stepS = median(slopes);
  // Spans starting in the first and in the second half of the stretch must agree (the batch's
  // context grows only a little over it); if they do not, a stall distorted the stretch.
  const consistent = Math.abs(median(early) - median(late)) <= 0.04 * stepS;
  // Σ context at the middle of the stretch: each request's prompt plus the tokens it had by then.
  const tMid = (tA + tB) / 2;
  let kv = 0;
  results.forEach((r, i) => {
    let idx = 0;
    while (idx < r.tokenTimes.length && r.tokenTimes[idx] <= tMid) idx++;
    kv += promptTokens[i] + idx;
  });
  return { seqs: b, meanKvTokens: kv, stepS, steps, consistent };
}

function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/**
 * Sweeps a live endpoint: lone prefills of growing length (fresh, then repeated so the prefix
 * cache serves all but the last block), and batches of concurrent decodes of several sizes and
 * context lengths. Sizes adapt to the endpoint's KV capacity and context limit.
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const k = o.speedup;
  const now = (): number => (performance.now() / 1e3) * k;
  const wall0 = performance.now();
  const agent = createAgent();
  const log = o.log ?? ((): void => undefined);
  try {
    const facts = await endpointFacts(agent, o.target);
    const kv = facts.kvTokens ?? o.fallbackKvTokens;
    const send = async (prompt: string, maxTokens: number, keep: boolean): Promise<StreamResult> => {
      const r = await streamCompletion(agent, { base: o.target, api: 'completions', model: facts.model, prompt, maxTokens, keepTokenTimes: keep, signal: AbortSignal.timeout(600_000) }, now);
      if (!r.ok) throw new Error(`profile measure: request to ${o.target} failed: ${r.error ?? `HTTP ${r.status}`}`);
      return r;
    };
    const prefill: PrefillObservation[] = [];
    const limit = Math.min(o.maxModelLen - 2, Math.floor(kv * 0.8));
    const lengths = [256, 1024, 2048, 4096, 8192, 16384, 32768].filter((n) => n <= limit);
    log(`prefill: ${lengths.length} lengths up to ${lengths[lengths.length - 1]} tokens, fresh and cached`);
    // Client-side delays only ever add time, so the fastest of several tries is the cleanest;
    // tries of one kind are spread over rounds, so a busy spell of the machine does not spoil
    // every try of the same prompt.
    const chunk = o.maxNumBatchedTokens;
    const best = new Map<string, PrefillObservation>();
    const timed = async (key: string, prompt: string, n: number): Promise<void> => {
      const r = await send(prompt, 1, false);
      const p = { inputTokens: r.promptTokens ?? n, cachedTokens: r.cachedTokens ?? 0, ttftS: r.firstTokenAt - r.sentAt };
      const b = best.get(key);
      if (!b || p.ttftS < b.ttftS) best.set(key, p);
    };
    const cached = new Map<number, string>();
    // Fresh prompts: the whole prefill, chunk by chunk. Long ones are too costly to try often
    // enough for a clean minimum, so they only prime the cache for the rows below.
    for (let round = 0; round < 3; round++) {
      for (const n of lengths) {
        if (round > 0 && n >= 8192) continue;
        const prompt = freshPrompt(n);
        cached.set(n, prompt);
        if (n < 8192) await timed(`fresh ${n}`, prompt, n);
        else await send(prompt, 1, false);
      }
    }
    for (let round = 0; round < 6; round++) {
      for (const n of lengths) {
        const prompt = cached.get(n) as string;
        // The same prompt again: all but the last block from the cache (transport and fixed costs).
        await timed(`cached ${n}`, prompt, n);
        // A cached prefix plus one new chunk: attention over a long context at the price of one
        // step, which pins the attention efficiency.
        if (n >= 2 * chunk) await timed(`extend ${n}`, `${prompt.split(' ').slice(0, n - chunk).join(' ')} ${freshPrompt(chunk)}`, n);
      }
    }
    prefill.push(...best.values());
    const decode: DecodeObservation[] = [];
    const budget = o.maxNumBatchedTokens;
    // Batch size excites the per-sequence overhead, context the KV reads (bandwidth); batches
    // stay ≤ 64 streams so the client's own timestamps stay clean.
    // The short-context batches run twice: they pin the fixed and per-sequence overheads.
    const plan: [number, number][] = [
      [1, 64],
      [16, 64],
      [Math.min(64, o.maxBatch), 64],
      [1, Math.min(8192, limit)],
      [16, Math.min(4096, Math.floor((kv * 0.5) / 16))],
      [1, 64],
      [16, 64],
      [Math.min(64, o.maxBatch), 64],
    ];
    for (const [b, n] of plan) {
      if (n < 16 || b < 1) continue;
      // Long enough that every request is decoding for ≥ 64 steps after the last prefill ends,
      // with room for requests that reach the engine a little late.
      const stagger = Math.ceil((b * n) / Math.max(1, budget - b)) + 4 + Math.ceil(b / 2);
      const m = Math.min(o.maxModelLen - n - 1, stagger + (n <= 64 ? 160 : 96));
      for (let attempt = 1; attempt <= 3; attempt++) {
        const results = await Promise.all(Array.from({ length: b }, () => send(freshPrompt(n), m, true)));
        const w = decodeWindow(results, results.map((r) => r.promptTokens ?? n));
        const ok = w !== undefined && w.consistent;
        log(`decode: batch ${b} × ${n} tokens: ${w ? `${(w.stepS * 1e3).toFixed(2)} ms/step over ${w.steps} steps${ok ? '' : ' (disturbed, measuring again)'}` : 'no clean window'}`);
        if (w && ok) {
          decode.push({ seqs: w.seqs, meanKvTokens: w.meanKvTokens, stepS: w.stepS, steps: w.steps });
          break;
        }
      }
    }
    return { facts, prefill, decode, wallS: (performance.now() - wall0) / 1e3 };
  } finally {
    await agent.close();
  }
}
