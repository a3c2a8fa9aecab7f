/**
 * power-of-two: two distinct random workers, the one with fewer in-flight requests.
 * Semantics: SGLang `power_of_two` / AIBrix `power-of-two`: two distinct uniformly random
 * candidates, lower router-side load wins, a tie goes to the first drawn (which is itself random,
 * so the tie-break is unbiased). Deviation: SGLang prefers polled `/get_load` token counts when
 * both workers report one; we always use the router's in-flight count (always current).
 */
import type { PolicyFactory } from '../types.js';

export const powerOfTwoPolicy: PolicyFactory = {
  name: 'power-of-two',
  description: 'Two distinct random workers; the one with fewer in-flight requests (first drawn on a tie).',
  options: [],
  create: () => ({
    name: 'power-of-two',
    usesPrefix: false,
    pick: (_req, candidates, ctx) => {
      const n = candidates.length;
      if (n === 1) return { worker: candidates[0].index };
      const a = ctx.rng.int(n);
      let b = ctx.rng.int(n - 1);
      if (b >= a) b++;
      const wa = candidates[a];
      const wb = candidates[b];
      return { worker: (wb.inFlight < wa.inFlight ? wb : wa).index };
    },
  }),
};
