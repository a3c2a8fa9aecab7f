/**
 * max-score: llm-d `max-score-picker`: the highest total score; ties uniformly at random (llm-d
 * shuffles before sorting), one draw only when there is a tie.
 */
import type { PluginDef } from '../types.js';
import { argmaxPosition } from '../../candidates.js';

export const maxScorePicker: PluginDef<'picker'> = {
  kind: 'picker',
  type: 'max-score',
  aliases: ['max-score-picker'],
  description: 'Highest total score; ties random.',
  follows: 'llm-d max-score-picker',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'max-score',
    pick: (total, eps, ctx) => argmaxPosition(total, eps.length, ctx.rng),
  }),
};
