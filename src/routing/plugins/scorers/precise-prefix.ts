/**
 * precise-prefix: llm-d `precise-prefix-cache-scorer`: matched leading blocks / prompt blocks,
 * read from the engines' own KV events (prefix/precise-index.ts) where the driver has them —
 * serve with `kv_events=tcp://…` per worker, simulate (events delayed by `--kv-event-lag`) —
 * plus routing decisions of the last `speculative_ttl_s` seconds that no event has confirmed.
 * A worker with no live event stream (none configured, or the subscription was lost) is scored
 * on the approximate index instead, so the score never disappears with a stream.
 */
import type { PluginDef } from '../types.js';
import { num } from '../../options.js';

export const PRECISE_PREFIX_OPTIONS = [
  { name: 'block_size', type: 'integer', default: 16, min: 1, description: 'tokens per block a match is counted in (and of the approximate fallback index); the engines\' block size is learnt from their events' },
  { name: 'lru_blocks', type: 'integer', default: 0, min: 0, description: 'approximate fallback index capacity per worker in blocks (0 = KV capacity / block_size)' },
  { name: 'speculative_ttl_s', type: 'number', default: 60, min: 0, description: 'seconds a routed prompt counts as cached on its worker before the engine\'s events confirm it (0 = events only)' },
] as const;

export const precisePrefixScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'precise-prefix',
  aliases: ['precise-prefix-cache-scorer'],
  description: 'Longer cached prefix scores higher, from the engines\' KV events (approximate where a worker has no live stream).',
  follows: 'llm-d precise-prefix-cache-scorer (llm-d-kv-cache index fed by vLLM KV events, speculative indexing)',
  options: PRECISE_PREFIX_OPTIONS,
  create: (o, env) => {
    const index = env.prefixIndex({ blockSize: num(o, 'block_size'), lruBlocks: num(o, 'lru_blocks'), source: 'kv-events', speculativeTtlS: num(o, 'speculative_ttl_s') });
    return {
      type: 'precise-prefix',
      score: (req, eps, out) => {
        const blocks = index.blocks(req).length;
        index.match(req, eps, out);
        for (let i = 0; i < eps.length; i++) out[i] = blocks > 0 ? out[i] / blocks : 0;
      },
    };
  },
};
