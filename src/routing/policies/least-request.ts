/**
 * least-request: fewest in-flight requests by the router's own count.
 * Semantics: AIBrix `least-request` (gateway-side `realtime_num_requests_running`, +1 at routing,
 * −1 at completion; ties broken uniformly at random). No deviation. It is also the fallback of
 * the prefix and affinity policies here.
 */
import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { inFlight } from '../candidates.js';

export const leastRequestPolicy: PolicyFactory = {
  name: 'least-request',
  description: "Fewest in-flight requests by the router's own count; random tie-break.",
  options: [],
  create: () => ({
    name: 'least-request',
    usesPrefix: false,
    pick: (_req, candidates, ctx) => ({ worker: (ctx.inFlightIndex?.(candidates)?.argminRandomTie(ctx.rng) ?? argminRandomTie(candidates, inFlight, ctx.rng)).index }),
  }),
};
