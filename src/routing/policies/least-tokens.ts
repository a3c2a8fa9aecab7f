/**
 * least-tokens: fewest outstanding tokens, counted by the router.
 * load = in-flight prompt tokens + in-flight requests × expected output tokens.
 * The router cannot see a request's output length before it ends, so the expected output is an
 * estimate: `output_tokens` is the prior, and (unless `output_ewma` = 0) it is replaced by an
 * exponentially weighted mean of the output lengths of completed requests, which a proxy sees
 * as it streams them. Random tie-break.
 * Semantics: the token-count load of SGLang's power-of-two (`/get_load` tokens) and AIBrix's
 * `throughput` (2·prompt + generation per request), applied as an argmin over all workers with
 * router-side counts so it is never stale.
 */
import type { PolicyFactory } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { num } from '../options.js';

const NAME = 'least-tokens';

export const leastTokensPolicy: PolicyFactory = {
  name: NAME,
  description: 'Fewest in-flight prompt tokens + in-flight requests × expected output tokens (learned from completions).',
  options: [
    { name: 'output_tokens', type: 'number', default: 256, min: 0, description: 'expected output tokens per request before any completion is seen' },
    { name: 'output_ewma', type: 'number', default: 0.05, min: 0, max: 1, description: 'weight of each completed request in the learned output mean (0 = keep output_tokens)' },
  ],
  create: (o) => {
    let expected = num(o, 'output_tokens');
    const alpha = num(o, 'output_ewma');
    return {
      name: NAME,
      usesPrefix: false,
      pick: (_req, candidates, ctx) => ({
        worker: argminRandomTie(candidates, (w) => w.inFlightPromptTokens + w.inFlight * expected, ctx.rng).index,
      }),
      onComplete: (_req, _w, outcome) => {
        if (alpha > 0 && outcome.ok) expected += alpha * (outcome.outputTokens - expected);
      },
    };
  },
};
