/**
 * token-load: llm-d `token-load-scorer`: 1 − min(1, in-flight prompt tokens / threshold), from
 * the router's own counts (always current).
 */
import type { PluginDef } from '../types.js';
import { num } from '../../options.js';

export const tokenLoadScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'token-load',
  aliases: ['token-load-scorer'],
  description: 'Fewer in-flight prompt tokens scores higher: 1 − min(1, tokens / queue_threshold_tokens).',
  follows: 'llm-d token-load-scorer',
  usesPrefix: false,
  options: [{ name: 'queue_threshold_tokens', type: 'integer', default: 4_194_304, min: 1, description: 'in-flight prompt tokens at which the score reaches 0 (llm-d default)' }],
  create: (o) => {
    const t = num(o, 'queue_threshold_tokens');
    return {
      type: 'token-load',
      score: (_req, eps, out) => {
        for (let i = 0; i < eps.length; i++) out[i] = 1 - Math.min(1, eps[i].inFlightPromptTokens / t);
      },
    };
  },
};
