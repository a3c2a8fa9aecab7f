/**
 * prefix: llm-d `prefix-cache-scorer` on the approximate prefix producer: matched leading blocks
 * / prompt blocks, from the policy's shared prefix index (chained block hashes recorded at
 * routing time, per-worker LRU sized from the KV capacity; see prefix/approximate-index.ts).
 * A prompt shorter than one block scores 0 everywhere.
 */
import type { PluginDef } from '../types.js';
import { num } from '../../options.js';

export const prefixScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'prefix',
  aliases: ['prefix-cache-scorer'],
  description: 'Longer cached prefix scores higher: matched leading blocks / prompt blocks in the shared prefix index.',
  follows: 'llm-d prefix-cache-scorer (approximate producer)',
  usesPrefix: true,
  options: [
    { name: 'block_size', type: 'integer', default: 16, min: 1, description: 'tokens per block of the prefix index' },
    { name: 'lru_blocks', type: 'integer', default: 0, min: 0, description: 'prefix index capacity per worker in blocks (0 = KV capacity / block_size)' },
  ],
  create: (o, env) => {
    const index = env.prefixIndex({ blockSize: num(o, 'block_size'), lruBlocks: num(o, 'lru_blocks') });
    return {
      type: 'prefix',
      score: (req, eps, out) => {
        const blocks = index.blocks(req).length;
        index.match(req, eps, out);
        for (let i = 0; i < eps.length; i++) out[i] = blocks > 0 ? out[i] / blocks : 0;
      },
    };
  },
};
