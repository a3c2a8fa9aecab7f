/**
 * random: a uniformly random healthy worker.
 * Semantics: SGLang `random` and AIBrix `random` (also AIBrix's fallback): uniform over the
 * healthy/ready workers. No deviation.
 */
import type { PolicyFactory } from '../types.js';

export const randomPolicy: PolicyFactory = {
  name: 'random',
  description: 'Uniformly random healthy worker.',
  options: [],
  create: () => ({
    name: 'random',
    pick: (_req, candidates, ctx) => ({ worker: candidates[ctx.rng.int(candidates.length)].index }),
  }),
};
