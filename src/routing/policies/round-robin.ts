import type { PolicyFactory } from '../types.js';

export const roundRobinPolicy: PolicyFactory = {
  name: 'round-robin',
  description: 'Healthy workers in turn.',
  options: [],
  create: () => {
    let next = 0;
    return {
      name: 'round-robin',
      pick: (_req, candidates) => {
        const w = candidates[next % candidates.length];
        next = (next + 1) % candidates.length;
        return { worker: w.index };
      },
    };
  },
};
