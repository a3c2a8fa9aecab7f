/**
 * kv-utilization: llm-d `kv-cache-utilization-scorer`: 1 − scraped KV usage (a worker not
 * scraped yet counts as empty). As stale as the scrape interval.
 */
import type { PluginDef } from '../types.js';

export const kvUtilizationScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'kv-utilization',
  aliases: ['kv', 'kv-cache-utilization-scorer'],
  description: 'Emptier KV cache scores higher: 1 − scraped KV usage.',
  follows: 'llm-d kv-cache-utilization-scorer',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'kv-utilization',
    score: (_req, eps, out) => {
      for (let i = 0; i < eps.length; i++) out[i] = 1 - Math.min(1, Math.max(0, eps[i].scraped?.kvUsage ?? 0));
    },
  }),
};
