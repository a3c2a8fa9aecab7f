import type { ScrapedMetrics } from '../routing/types.js';

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

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into name → samples (only the names asked for). */
export function parsePrometheus(text: string, wanted: ReadonlySet<string>): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!wanted.has(name)) continue;
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const close = rest.lastIndexOf('}');
      if (close < 0) continue;
      labels = parseLabels(rest.slice(1, close));
      rest = rest.slice(close + 1);
    }
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (!Number.isFinite(value)) continue;
    let list = out.get(name);
    if (!list) out.set(name, (list = []));
    list.push({ labels, value });
  }
  return out;
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return labels;
}

const WANTED = new Set([
  ...RUNNING,
  ...WAITING,
  ...KV_USAGE,
  ...HIT_RATE_GAUGE,
  ...HIT_COUNTERS.flat(),
  'vllm:cache_config_info',
  'sglang:max_total_num_tokens',
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

  /** Returns undefined when the page carries none of the known gauges. */
  read(text: string, atS: number): EngineScrape | undefined {
    const m = parsePrometheus(text, WANTED);
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
    const out: EngineScrape = { metrics };
    const info = m.get('vllm:cache_config_info');
    if (info && info.length > 0) {
      const blocks = Number(info[0].labels.num_gpu_blocks);
      const bs = Number(info[0].labels.block_size);
      if (Number.isFinite(bs) && bs > 0) out.blockSize = bs;
      if (Number.isFinite(blocks) && blocks > 0 && out.blockSize) out.kvCapacityTokens = blocks * out.blockSize * info.length;
    }
    const pool = m.get('sglang:max_total_num_tokens');
    if (out.kvCapacityTokens === undefined && pool && sum(pool) > 0) out.kvCapacityTokens = sum(pool);
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
