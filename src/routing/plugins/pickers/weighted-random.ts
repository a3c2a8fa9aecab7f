/**
 * weighted-random: llm-d `weighted-random-picker` (A-Res): each candidate draws U(0,1), key
 * U^(1/score), the largest key wins, so a candidate wins in proportion to its score; a zero
 * score never wins unless every score is zero (then uniform). Spreads bursts that max-score
 * would send to one worker (GIE #1411).
 */
import type { PluginDef } from '../types.js';

export const weightedRandomPicker: PluginDef<'picker'> = {
  kind: 'picker',
  type: 'weighted-random',
  aliases: ['weighted-random-picker'],
  description: 'Random in proportion to the total score (A-Res); uniform when all scores are 0.',
  follows: 'llm-d weighted-random-picker',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'weighted-random',
    pick: (total, eps, ctx) => {
      const n = eps.length;
      let best = 0;
      let bestKey = -1;
      let allZero = true;
      for (let i = 0; i < n; i++) if (total[i] > 0) allZero = false;
      for (let i = 0; i < n; i++) {
        const u = ctx.rng.next();
        const key = allZero ? u : total[i] > 0 ? Math.pow(u, 1 / total[i]) : -1;
        if (key > bestKey) {
          bestKey = key;
          best = i;
        }
      }
      return best;
    },
  }),
};
