/**
 * active-requests: llm-d `active-request-scorer`: the router's own in-flight count (always
 * current); an idle worker scores 1, busier ones (max − n) / max.
 */
import type { PluginDef } from '../types.js';

export const activeRequestsScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'active-requests',
  aliases: ['active', 'active-request-scorer'],
  description: "Fewer router in-flight requests scores higher: idle → 1, else (max − n) / max.",
  follows: 'llm-d active-request-scorer',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'active-requests',
    score: (_req, eps, out) => {
      let max = 0;
      for (const e of eps) if (e.inFlight > max) max = e.inFlight;
      for (let i = 0; i < eps.length; i++) out[i] = eps[i].inFlight <= 0 ? 1 : (max - eps[i].inFlight) / max;
    },
  }),
};
