/**
 * least-kv-cache: lowest scraped KV-cache usage.
 * Semantics: AIBrix `least-kv-cache` / `least-gpu-cache` (minimise `vllm:kv_cache_usage_perc`;
 * AIBrix adds the CPU-offload cache usage, which our engines do not have). A worker not scraped
 * yet counts as empty, as AIBrix treats a missing metric. Ties random (AIBrix's `<=` over a
 * shuffled list amounts to that). The signal is as stale as the scrape interval makes it: within
 * one interval every request sees the same usage, which is the real policy's known herding.
 */
import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';

export const leastKvCachePolicy: PolicyFactory = {
  name: 'least-kv-cache',
  description: 'Lowest scraped KV-cache usage (stale by the scrape interval); random tie-break.',
  options: [],
  create: () => ({
    name: 'least-kv-cache',
    pick: (_req, candidates, ctx) => ({ worker: argminRandomTie(candidates, (w) => w.scraped?.kvUsage ?? 0, ctx.rng).index }),
  }),
};
