/**
 * least-kv-cache: lowest scraped KV-cache usage.
 * Semantics: AIBrix `least-kv-cache` / `least-gpu-cache` (minimise `vllm:kv_cache_usage_perc`;
 * AIBrix adds the CPU-offload cache usage, which our engines do not have). A worker not scraped
 * yet counts as empty, as AIBrix treats a missing metric. Ties random (AIBrix's `<=` over a
 * shuffled list amounts to that). The signal is as stale as the scrape interval makes it: within
 * one interval every request sees the same usage, which is the real policy's known herding.
 * A preset: the kv-utilization scorer (1 − usage) under max-score.
 */
import { presetPolicy } from '../plugins/profile.js';

export const leastKvCachePolicy = presetPolicy({
  name: 'least-kv-cache',
  description: 'Lowest scraped KV-cache usage (stale by the scrape interval); random tie-break.',
  options: [],
  profile: () => ({ name: 'least-kv-cache', filters: [], scorers: [{ type: 'kv-utilization', weight: 1 }], picker: { type: 'max-score' } }),
});
