/**
 * precise-prefix: llm-d's precise prefix-cache-aware profile as a preset: the precise-prefix
 * scorer (engine KV events, speculative routing decisions, approximate fallback per worker)
 * with the queue and KV-utilization scorers, weights 3/2/2 — the `weighted` preset's default
 * with the approximate prefix scorer swapped for the precise one, so the two compare like for
 * like. Without any KV event stream it routes exactly as `weighted` does.
 */
import { num, str } from '../options.js';
import { presetPolicy } from '../plugins/profile.js';
import { pluginDefs } from '../plugins/registry.js';
import { PRECISE_PREFIX_OPTIONS } from '../plugins/scorers/precise-prefix.js';

const NAME = 'precise-prefix';

export const precisePrefixPolicy = presetPolicy({
  name: NAME,
  description: 'llm-d precise prefix-cache routing: engine KV events (approximate fallback per worker) 3, queue 2, KV utilization 2.',
  options: [
    ...PRECISE_PREFIX_OPTIONS,
    { name: 'prefix_weight', type: 'number', default: 3, min: 0, description: 'weight of the precise-prefix scorer' },
    { name: 'queue_weight', type: 'number', default: 2, min: 0, description: 'weight of the queue scorer (scraped waiting requests)' },
    { name: 'kv_weight', type: 'number', default: 2, min: 0, description: 'weight of the kv-utilization scorer (scraped KV usage)' },
    { name: 'picker', type: 'string', default: 'max-score', values: pluginDefs('picker').map((p) => p.type), description: 'picker plugin' },
  ],
  profile: (o) => ({
    name: NAME,
    filters: [],
    scorers: [
      { type: 'precise-prefix', weight: num(o, 'prefix_weight'), options: { block_size: num(o, 'block_size'), lru_blocks: num(o, 'lru_blocks'), speculative_ttl_s: num(o, 'speculative_ttl_s') } },
      { type: 'queue', weight: num(o, 'queue_weight') },
      { type: 'kv-utilization', weight: num(o, 'kv_weight') },
    ],
    picker: { type: str(o, 'picker') },
  }),
});
