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
