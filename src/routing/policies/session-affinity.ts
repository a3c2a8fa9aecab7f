/**
 * session-affinity: sticky sessions. The first request of a session goes to the least-loaded
 * worker; later requests of the session go to the same worker while it is healthy and not
 * overloaded; a session idle for `idle_ttl_s` is forgotten.
 * Semantics: AIBrix `session-affinity` (the gateway returns the chosen pod in `x-session-id`
 * and honours it while that pod is ready) and Dynamo's `X-Dynamo-Session-ID` with an idle TTL;
 * the key is the request's `sessionId` (or `userId`), which `serve` fills from those headers.
 * Bounded load: a session's worker is abandoned (and the session re-pinned to the least-loaded
 * worker) when taking the request would put it above ceil(load_factor × (total + 1) / workers); 0 = never.
 * Deviations: AIBrix re-hashes an unknown session with rendezvous hashing and falls back to
 * random; we pin new sessions to the least-loaded worker (affinity + balance, like llm-d's
 * session scorer combined with a load scorer) and send keyless requests to the least loaded.
 */
import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { num, str } from '../options.js';
import { inFlight, ViewLookup } from '../candidates.js';
import { affinityKey } from './consistent-hash.js';
import { workerKey } from '../shared-state.js';

const NAME = 'session-affinity';

interface Pin {
  worker: number;
  lastS: number;
}

export const sessionAffinityPolicy: PolicyFactory = {
  name: NAME,
  description: 'Sticky sessions: a session stays on the worker its first request went to (least loaded), unless that worker is unhealthy or overloaded; idle sessions expire.',
  options: [
    { name: 'key', type: 'string', default: 'session', values: ['session', 'user'], description: 'request field that names the session: session or user' },
    { name: 'idle_ttl_s', type: 'number', default: 600, min: 0, description: 'forget a session idle this long (seconds)' },
    { name: 'load_factor', type: 'number', default: 2, min: 0, description: 're-pin when the worker is above this × mean in-flight (0 = never)' },
  ],
  create: (o, env) => {
    const key = str(o, 'key', ['session', 'user'] as const);
    const ttl = num(o, 'idle_ttl_s');
    const factor = num(o, 'load_factor');
    // Insertion order = last-use order (entries are re-inserted on use), so expiry pops the front.
    const pins = new Map<string, Pin>();
    const views = new ViewLookup();
    return {
      name: NAME,
      usesPrefix: false,
      pick(req, candidates, ctx) {
        const now = ctx.clock.now();
        for (const [k, p] of pins) {
          if (now - p.lastS <= ttl) break;
          pins.delete(k);
        }
        // The router's in-flight index, when it has one for this list: the scan's picks and sums in O(log n).
        const index = ctx.inFlightIndex?.(candidates);
        const least = (): number => (index?.argminRandomTie(ctx.rng) ?? argminRandomTie(candidates, inFlight, ctx.rng)).index;
        const k = affinityKey(req, key);
        if (k === undefined) return { worker: least(), branch: 'no-key' };
        // With replicas, the shared pin wins: another replica may have re-pinned the session.
        const shared = env?.sessionPins?.get(k, ttl);
        const pin = shared === undefined ? pins.get(k) : undefined;
        if (pin || shared !== undefined) {
          let w;
          if (shared === undefined) {
            views.reset(candidates);
            w = pin ? views.get(pin.worker) : undefined;
          } else w = candidates.find((c) => workerKey(c) === shared);
          if (w) {
            let total = index?.total();
            if (total === undefined) {
              total = 0;
              for (const c of candidates) total += c.inFlight;
            }
            if (factor === 0 || w.inFlight + 1 <= Math.ceil((factor * (total + 1)) / candidates.length)) return { worker: w.index, branch: 'sticky' };
            return { worker: least(), branch: 'overloaded' };
          }
        }
        return { worker: least(), branch: pin || shared !== undefined ? 'repin' : 'new' };
      },
      onDispatch(req, w, ctx) {
        const k = affinityKey(req, key);
        if (k === undefined) return;
        pins.delete(k);
        pins.set(k, { worker: w.index, lastS: ctx.clock.now() });
        env?.sessionPins?.set(k, workerKey(w));
      },
      onWorkerRemoved(w) {
        views.clear();
        for (const [k, p] of pins) if (p.worker === w.index) pins.delete(k);
      },
    };
  },
};
