/**
 * round-robin: healthy workers in turn.
 * Semantics: SGLang `round_robin`, a counter taken modulo the *current* healthy list (so when the
 * list shrinks the rotation continues over the survivors). No deviation.
 */
import type { PolicyFactory } from '../types.js';

export const roundRobinPolicy: PolicyFactory = {
  name: 'round-robin',
  description: 'Healthy workers in turn (counter modulo the current healthy list).',
  options: [],
  create: () => {
    let next = 0;
    return {
      name: 'round-robin',
      usesPrefix: false,
      pick: (_req, candidates) => {
        const w = candidates[next % candidates.length];
        next = (next + 1) % candidates.length;
        return { worker: w.index };
      },
    };
  },
};
