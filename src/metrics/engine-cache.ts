import { findSamples, sampleSum, type PromFamily } from '../util/prometheus-text.js';

/** What an engine's `/metrics` says about its KV cache and settings (all optional: engines differ). */
export interface EngineCacheInfo {
  blockSize?: number;
  numGpuBlocks?: number;
  gpuMemoryUtilization?: number;
  enablePrefixCaching?: boolean;
  /**
   * KV capacity in tokens: vLLM's `cache_config_info` blocks × block size, summed over the
   * engines behind the URL (one info sample each), else SGLang's `max_total_num_tokens` pool.
   */
  kvCapacityTokens?: number;
}

const positive = (v: number): boolean => Number.isFinite(v) && v > 0;

/** The one reader of KV capacity from engine metrics (serve's scrapes and `profile measure` use it). */
export function engineCacheInfo(families: readonly PromFamily[]): EngineCacheInfo {
  const out: EngineCacheInfo = {};
  const info = findSamples(families, 'vllm:cache_config_info');
  if (info.length > 0) {
    const l = info[0].labels;
    const bs = Number(l.block_size);
    const blocks = Number(l.num_gpu_blocks);
    const util = Number(l.gpu_memory_utilization);
    if (positive(bs)) out.blockSize = bs;
    if (positive(blocks)) out.numGpuBlocks = blocks;
    if (util > 0 && util <= 1) out.gpuMemoryUtilization = util;
    if (l.enable_prefix_caching) out.enablePrefixCaching = l.enable_prefix_caching === 'True';
    if (positive(bs) && positive(blocks)) out.kvCapacityTokens = blocks * bs * info.length;
  }
  const pool = sampleSum(families, 'sglang:max_total_num_tokens');
  if (out.kvCapacityTokens === undefined && pool !== undefined && pool > 0) out.kvCapacityTokens = pool;
  return out;
}
