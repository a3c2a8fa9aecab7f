import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';

export const leastRequestPolicy: PolicyFactory = {
  name: 'least-request',
  description: "Fewest in-flight requests by the router's own count; random tie-break.",
  options: [],
  create: () => ({
    name: 'least-request',
    pick: (_req, candidates, ctx) => ({ worker: argminRandomTie(candidates, (w) => w.inFlight, ctx.rng).index }),
  }),
};
