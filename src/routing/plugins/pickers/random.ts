/** random: llm-d `random-picker`, SGLang/AIBrix `random`: a uniformly random candidate, scores ignored. */
import type { PluginDef } from '../types.js';

export const randomPicker: PluginDef<'picker'> = {
  kind: 'picker',
  type: 'random',
  aliases: ['random-picker'],
  description: 'Uniformly random candidate (scores ignored).',
  follows: 'llm-d random-picker',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'random',
    pick: (_total, eps, ctx) => ctx.rng.int(eps.length),
  }),
};
