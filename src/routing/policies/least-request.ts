/**
 * least-request: fewest in-flight requests by the router's own count.
 * Semantics: AIBrix `least-request` (gateway-side `realtime_num_requests_running`, +1 at routing,
 * −1 at completion; ties broken uniformly at random). No deviation. A preset: the
 * active-requests scorer under max-score (idle → 1, else (max − n)/max, so the highest score is
 * the fewest in flight, ties random). It is also the fallback of the prefix and affinity
 * policies here (which call argminRandomTie directly: same choice, same draw).
 */
import { presetPolicy } from '../plugins/profile.js';

export const leastRequestPolicy = presetPolicy({
  name: 'least-request',
  description: "Fewest in-flight requests by the router's own count; random tie-break.",
  options: [],
  profile: () => ({ name: 'least-request', filters: [], scorers: [{ type: 'active-requests', weight: 1 }], picker: { type: 'max-score' } }),
});
