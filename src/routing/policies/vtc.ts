/**
 * vtc: virtual-token-counter fairness across users, AIBrix `vtc-basic` (vtc/vtc_basic.go).
 * Each user has a token counter over a sliding window (prompt tokens at dispatch + output tokens
 * × output_weight at completion, which a proxy sees). With n candidate workers and
 *   bucket = max(1000, (min counter + max counter) / 2) over active users,
 *   target = min(counter / bucket, n − 1),
 * candidate i scores fairness_weight·|i − target| + utilization_weight·min(in-flight/100, 1)
 *   + U(0, jitter), lowest wins. Heavy users are thus steered to the high-index workers and
 * light users keep the low-index ones, so a heavy user's backlog does not queue in front of
 * light users (the router-level form of VTC's "serve the least-served client first").
 * Deviations: AIBrix estimates tokens as characters/4; we have the real token counts. A request
 * with no user goes to the least-loaded worker (AIBrix: random). Weights default to 1 (AIBrix
 * reads them from environment variables).
 */
import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { num } from '../options.js';
import { argminPosition, inFlight } from '../candidates.js';

const NAME = 'vtc';

interface UserCounter {
  events: { t: number; tokens: number }[];
  head: number;
  tokens: number;
}

export const vtcPolicy: PolicyFactory = {
  name: NAME,
  description: 'Virtual token counter (AIBrix vtc-basic): users with more recent tokens are steered to higher-index workers, light users keep the others.',
  options: [
    { name: 'window_s', type: 'number', default: 300, min: 0, description: 'window of the per-user token counters (seconds)' },
    { name: 'output_weight', type: 'number', default: 2, min: 0, description: 'weight of an output token relative to a prompt token' },
    { name: 'fairness_weight', type: 'number', default: 1, min: 0, description: 'weight of the distance to the user\'s target worker' },
    { name: 'utilization_weight', type: 'number', default: 1, min: 0, description: 'weight of min(in-flight / 100, 1)' },
    { name: 'jitter', type: 'number', default: 0.1, min: 0, description: 'uniform noise added to each score' },
  ],
  create: (o) => {
    const window = num(o, 'window_s');
    const outW = num(o, 'output_weight');
    const wf = num(o, 'fairness_weight');
    const wu = num(o, 'utilization_weight');
    const jitter = num(o, 'jitter');
    const users = new Map<string, UserCounter>();
    let score = new Float64Array(64);

    const add = (user: string, t: number, tokens: number): void => {
      let u = users.get(user);
      if (!u) {
        u = { events: [], head: 0, tokens: 0 };
        users.set(user, u);
      }
      u.events.push({ t, tokens });
      u.tokens += tokens;
    };
    const expire = (now: number): void => {
      for (const [name, u] of users) {
        while (u.head < u.events.length && u.events[u.head].t < now - window) u.tokens -= u.events[u.head++].tokens;
        if (u.head === u.events.length) users.delete(name);
        else if (u.head > 256 && u.head * 2 > u.events.length) {
          u.events.splice(0, u.head);
          u.head = 0;
        }
      }
    };

    return {
      name: NAME,
      usesPrefix: false,
      pick(req, candidates, ctx) {
        if (req.userId === undefined) return { worker: argminRandomTie(candidates, inFlight, ctx.rng).index, branch: 'no-user' };
        expire(ctx.clock.now());
        let min = Infinity;
        let max = 0;
        for (const u of users.values()) {
          if (u.tokens < min) min = u.tokens;
          if (u.tokens > max) max = u.tokens;
        }
        const mine = users.get(req.userId)?.tokens ?? 0;
        if (min === Infinity) min = 0;
        const bucket = Math.max(1000, (min + max) / 2);
        const n = candidates.length;
        const target = Math.min(mine / bucket, n - 1);
        if (score.length < n) score = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          score[i] = wf * Math.abs(i - target) + wu * Math.min(candidates[i].inFlight / 100, 1) + jitter * ctx.rng.next();
        }
        return { worker: candidates[argminPosition(score, n, ctx.rng)].index, branch: 'vtc' };
      },
      onDispatch(req, _w, ctx) {
        if (req.userId !== undefined) add(req.userId, ctx.clock.now(), req.inputTokens);
      },
      onComplete(req, _w, outcome, ctx) {
        if (req.userId !== undefined && outcome.ok) add(req.userId, ctx.clock.now(), outcome.outputTokens * outW);
      },
    };
  },
};
