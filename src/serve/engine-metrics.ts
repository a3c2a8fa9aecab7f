import type { ScrapedMetrics } from '../routing/types.js';
import { parsePrometheusText, PromParseError, type PromFamily, type PromSample } from '../util/prometheus-text.js';
import { engineCacheInfo } from '../metrics/engine-cache.js';
import { loraRequestsInfo } from './lora-metrics.js';

/**
 * Engine `/metrics` names serve understands, vLLM (V0 and V1, old and renamed) and SGLang
 * (see shared/reference/metrics.md). The first name present wins; values summed over label sets
 * (several engines behind one URL) except fractions, which are averaged.
 */
const RUNNING = ['vllm:num_requests_running', 'sglang:num_running_reqs'];
const WAITING = ['vllm:num_requests_waiting', 'sglang:num_queue_reqs'];
const KV_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc', 'sglang:token_usage'];
const HIT_RATE_GAUGE = ['vllm:gpu_prefix_cache_hit_rate', 'sglang:cache_hit_rate'];
/** Counter pairs (hits, queries) whose deltas give the hit rate over the last scrape interval. */
const HIT_COUNTERS: [string, string][] = [
  ['vllm:prefix_cache_hits_total', 'vllm:prefix_cache_queries_total'],
  ['vllm:gpu_prefix_cache_hits_total', 'vllm:gpu_prefix_cache_queries_total'],
  ['sglang:cached_tokens_total', 'sglang:prompt_tokens_total'],
];

type Sample = PromSample;

/** The samples of the names asked for, by name (one parser for every /metrics page: util/prometheus-text). */
function samplesByName(families: readonly PromFamily[], wanted: ReadonlySet<string>): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const f of families) {
    for (const x of f.samples) {
      // A sample without a finite value says nothing (as before the parsers were merged).
      if (!wanted.has(x.name) || !Number.isFinite(x.value)) continue;
      let list = out.get(x.name);
      if (!list) out.set(x.name, (list = []));
      list.push(x);
    }
  }
  return out;
}

const WANTED = new Set([
  ...RUNNING,
  ...WAITING,
  ...KV_USAGE,
  ...HIT_RATE_GAUGE,
  ...HIT_COUNTERS.flat(),
]);

function first(m: Map<string, Sample[]>, names: readonly string[]): Sample[] | undefined {
  for (const n of names) {
    const s = m.get(n);
    if (s && s.length > 0) return s;
  }
  return undefined;
}

const sum = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

export interface EngineScrape {
  metrics: ScrapedMetrics;
  /** KV capacity in tokens (vLLM cache_config_info blocks × block size, or SGLang's pool size). */
  kvCapacityTokens?: number;
  blockSize?: number;
}

/** Turns successive scrapes of one worker into `ScrapedMetrics` (keeps counters for deltas). */
export class EngineMetricsReader {
  private prevHits?: { hits: number; queries: number };

  /** Returns undefined when the page carries none of the known gauges or is not valid exposition text. */
  read(text: string, atS: number): EngineScrape | undefined {
    let families: PromFamily[];
    try {
      families = parsePrometheusText(text);
    } catch (err) {
      if (err instanceof PromParseError) return undefined;
      throw err;
    }
    const m = samplesByName(families, WANTED);
    const running = first(m, RUNNING);
    const waiting = first(m, WAITING);
    const kv = first(m, KV_USAGE);
    if (!running && !waiting && !kv) return undefined;
    const metrics: ScrapedMetrics = {
      running: running ? sum(running) : 0,
      waiting: waiting ? sum(waiting) : 0,
      kvUsage: kv ? Math.min(1, Math.max(0, sum(kv) / kv.length)) : 0,
      atS,
    };
    const rate = this.hitRate(m);
    if (rate !== undefined) metrics.prefixHitRate = rate;
    const lora = loraRequestsInfo(families);
    if (lora) metrics.lora = lora;
    const out: EngineScrape = { metrics };
    const cache = engineCacheInfo(families);
    if (cache.blockSize !== undefined) out.blockSize = cache.blockSize;
    if (cache.kvCapacityTokens !== undefined) out.kvCapacityTokens = cache.kvCapacityTokens;
    return out;
  }

  private hitRate(m: Map<string, Sample[]>): number | undefined {
    for (const [h, q] of HIT_COUNTERS) {
      const hs = m.get(h);
      const qs = m.get(q);
      if (!hs || !qs) continue;
      const cur = { hits: sum(hs), queries: sum(qs) };
      const prev = this.prevHits;
      this.prevHits = cur;
      // A counter that went backwards means the engine restarted: start the deltas over.
      if (!prev || cur.queries < prev.queries || cur.hits < prev.hits) return undefined;
      const dq = cur.queries - prev.queries;
      return dq > 0 ? Math.min(1, (cur.hits - prev.hits) / dq) : undefined;
    }
    const g = first(m, HIT_RATE_GAUGE);
    return g ? sum(g) / g.length : undefined;
  }
}
