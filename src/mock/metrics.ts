import type { Deployment } from '../profiles/types.js';
import type { EngineSnapshot } from '../engine/engine.js';
import type { MockLora } from './lora.js';

export type MetricsStyle = 'vllm' | 'sglang';
export const METRICS_STYLES: readonly MetricsStyle[] = ['vllm', 'sglang'];

/** A cumulative histogram as Prometheus exposes it. */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.count++;
    this.sum += v;
    for (let i = 0; i < this.bounds.length; i++) {
      if (v <= this.bounds[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

// Bucket bounds as vLLM V1 (vllm/v1/metrics/loggers.py) and SGLang (collector.py) define them.
const VLLM_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
const VLLM_ITL = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
const VLLM_E2E = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];
const SGLANG_TTFT = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const SGLANG_ITL = [0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0];
const SGLANG_E2E = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 800, 1600, 2400];

/**
 * The mock worker's own request metrics (the engine keeps the scheduler counters). Latencies are
 * engine seconds: with `--speedup` the mock reports what the simulated GPU would have taken.
 */
export class MockMetrics {
  readonly ttft: Histogram;
  readonly itl: Histogram;
  readonly e2e: Histogram;
  /** Whole prompts of requests that produced their first token (vLLM counts prompt_tokens so). */
  promptTokens = 0;
  generationTokens = 0;
  requestsTotal = 0;
  success = { length: 0, abort: 0 };
  errors = 0;
  /** The worker's adapters, when it serves LoRA (`vllm:lora_requests_info`). */
  lora?: MockLora;

  constructor(readonly style: MetricsStyle) {
    const s = style === 'vllm';
    this.ttft = new Histogram(s ? VLLM_TTFT : SGLANG_TTFT);
    this.itl = new Histogram(s ? VLLM_ITL : SGLANG_ITL);
    this.e2e = new Histogram(s ? VLLM_E2E : SGLANG_E2E);
  }
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

class Page {
  private readonly out: string[] = [];
  constructor(private readonly base: Record<string, string>) {}

  private labels(extra: Record<string, string> = {}, base: Record<string, string> = this.base): string {
    const all = { ...base, ...extra };
    return `{${Object.entries(all).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
  }

  scalar(name: string, type: 'gauge' | 'counter', help: string, value: number, extra?: Record<string, string>): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${this.labels(extra)} ${num(value)}`);
  }

  series(name: string, type: 'gauge' | 'counter', help: string, rows: [Record<string, string>, number][]): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [extra, v] of rows) this.out.push(`${name}${this.labels(extra)} ${num(v)}`);
  }

  /** A family whose series carry only their own labels (vLLM's LoRA gauge has no model_name/engine). */
  bareSeries(name: string, type: 'gauge' | 'counter', help: string, rows: [Record<string, string>, number][]): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) this.out.push(`${name}${this.labels(labels, {})} ${num(v)}`);
  }

  histogram(name: string, help: string, h: Histogram): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    let cum = 0;
    h.bounds.forEach((b, i) => {
      cum += h.counts[i];
      this.out.push(`${name}_bucket${this.labels({ le: num(b) })} ${num(cum)}`);
    });
    this.out.push(`${name}_bucket${this.labels({ le: '+Inf' })} ${num(h.count)}`);
    this.out.push(`${name}_sum${this.labels()} ${num(h.sum)}`);
    this.out.push(`${name}_count${this.labels()} ${num(h.count)}`);
  }

  text(): string {
    return `${this.out.join('\n')}\n`;
  }
}

/** `/metrics` in vLLM V1's names and labels (`model_name`, `engine`), see shared/reference/metrics.md. */
function vllmPage(d: Deployment, servedModel: string, s: EngineSnapshot, m: MockMetrics): string {
  const p = new Page({ engine: '0', model_name: servedModel });
  const e = d.engine;
  p.scalar('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.', s.running);
  p.scalar('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', s.waiting);
  p.scalar('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.', s.kvUsage);
  p.scalar('vllm:prefix_cache_queries_total', 'counter', 'Prefix cache queries, in terms of number of queried tokens.', s.prefixQueries);
  p.scalar('vllm:prefix_cache_hits_total', 'counter', 'Prefix cache hits, in terms of number of cached tokens.', s.prefixHits);
  p.scalar('vllm:num_preemptions_total', 'counter', 'Cumulative number of preemption from the engine.', s.preemptions);
  p.scalar('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', m.promptTokens);
  p.scalar('vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.', m.generationTokens);
  p.series('vllm:request_success_total', 'counter', 'Count of successfully processed requests.', [
    [{ finished_reason: 'stop' }, 0],
    [{ finished_reason: 'length' }, m.success.length],
    [{ finished_reason: 'abort' }, m.success.abort],
  ]);
  p.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', m.ttft);
  p.histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', m.itl);
  p.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', m.e2e);
  // CacheConfig.metrics_info(): every field a label, values stringified as Python would.
  p.scalar('vllm:cache_config_info', 'gauge', 'Information of the LLMEngine CacheConfig', 1, {
    block_size: String(e.blockSize),
    cache_dtype: 'auto',
    calculate_kv_scales: 'False',
    cpu_offload_gb: '0',
    enable_prefix_caching: e.enablePrefixCaching ? 'True' : 'False',
    gpu_memory_utilization: String(e.gpuMemoryUtilization),
    num_cpu_blocks: 'None',
    num_gpu_blocks: String(e.numGpuBlocks),
    num_gpu_blocks_override: 'None',
    sliding_window: 'None',
    swap_space: '4',
  });
  if (m.lora && s.lora) p.bareSeries('vllm:lora_requests_info', 'gauge', 'Running stats on lora requests.', m.lora.infoRows(s.lora, Date.now() / 1e3));
  return p.text();
}

/** `/metrics` in SGLang's names (collector.py); SGLang pages are one token, so capacity is in tokens. */
function sglangPage(d: Deployment, servedModel: string, s: EngineSnapshot, m: MockMetrics): string {
  const p = new Page({ model_name: servedModel });
  const capacity = d.engine.numGpuBlocks * d.engine.blockSize;
  p.scalar('sglang:num_running_reqs', 'gauge', 'The number of running requests.', s.running);
  p.scalar('sglang:num_queue_reqs', 'gauge', 'The number of requests in the waiting queue.', s.waiting);
  p.scalar('sglang:token_usage', 'gauge', 'The token usage.', s.kvUsage);
  p.scalar('sglang:num_used_tokens', 'gauge', 'The number of used tokens.', Math.round(s.kvUsage * capacity));
  p.scalar('sglang:max_total_num_tokens', 'gauge', 'Maximum total number of tokens in the KV cache pool.', capacity);
  p.scalar('sglang:cache_hit_rate', 'gauge', 'The prefix cache hit rate.', s.prefixQueries > 0 ? s.prefixHits / s.prefixQueries : 0);
  p.scalar('sglang:cached_tokens_total', 'counter', 'Number of cached prompt tokens.', s.prefixHits);
  p.scalar('sglang:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', m.promptTokens);
  p.scalar('sglang:generation_tokens_total', 'counter', 'Number of generation tokens processed.', m.generationTokens);
  p.scalar('sglang:num_requests_total', 'counter', 'Number of requests processed.', m.requestsTotal);
  p.scalar('sglang:num_aborted_requests_total', 'counter', 'Number of requests aborted.', m.success.abort);
  p.scalar('sglang:num_retracted_requests_total', 'counter', 'Number of retracted requests.', s.preemptions);
  p.histogram('sglang:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', m.ttft);
  p.histogram('sglang:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', m.itl);
  p.histogram('sglang:e2e_request_latency_seconds', 'Histogram of End-to-end request latency in seconds', m.e2e);
  return p.text();
}

export function metricsPage(d: Deployment, servedModel: string, s: EngineSnapshot, m: MockMetrics): string {
  return m.style === 'vllm' ? vllmPage(d, servedModel, s, m) : sglangPage(d, servedModel, s, m);
}
