/**
 * least-latency: lowest expected latency of a typical request on each worker.
 * Semantics: AIBrix `least-latency`: minimise
 *   queue_time + mean(prefill)/avgPromptToks × guessPrompt + mean(decode)/avgGenToks × guessGen,
 * the guesses being the cross-worker means of the per-worker averages (10 prompt / 100 output
 * tokens when nothing is known); ties random.
 * Deviations (signals): AIBrix reads these means from vLLM's latency histograms; our router
 * learns them from its own traffic, which is what those histograms summarise:
 * - prefill time per prompt token: exponentially weighted mean of TTFT / prompt tokens over the
 *   requests that had nothing ahead of them on that worker when dispatched (a TTFT with a queue
 *   in it is not a prefill time); until a worker has such a sample, any TTFT of it is used;
 * - decode time per output token: weighted mean of (E2E − TTFT) / (output − 1);
 * - queue_time: the requests the router has on that worker still waiting for their first token,
 *   times the worker's prefill time of a typical prompt. It is current at every decision (a
 *   scraped queue time, as AIBrix uses, lags by the scrape interval and herds every request of
 *   the interval onto the worker that looked fastest).
 * A worker with no figures yet borrows the mean over the workers that have some; with no figures anywhere the policy
 * reduces to the fewest requests waiting for a first token.
 */
import type { PolicyFactory } from '../types.js';
import { argminPosition, PerWorker } from '../candidates.js';
import { num } from '../options.js';

const NAME = 'least-latency';

interface Stats {
  prefillN: number;
  /** Samples without a queue ahead. */
  cleanN: number;
  prefillPerToken: number;
  decodeN: number;
  decodePerToken: number;
  prompt: number;
  output: number;
}

export const leastLatencyPolicy: PolicyFactory = {
  name: NAME,
  description: 'AIBrix least-latency: queue + prefill + decode time of a typical request, from router-observed TTFT/TPOT per worker.',
  options: [
    { name: 'ewma', type: 'number', default: 0.1, min: 0, max: 1, description: "weight of each completed request in a worker's running means" },
    { name: 'default_prompt_tokens', type: 'number', default: 10, min: 0, description: 'typical prompt length before any completion (AIBrix default)' },
    { name: 'default_output_tokens', type: 'number', default: 100, min: 0, description: 'typical output length before any completion (AIBrix default)' },
  ],
  create: (o) => {
    const alpha = num(o, 'ewma');
    const defPrompt = num(o, 'default_prompt_tokens');
    const defOutput = num(o, 'default_output_tokens');
    const stats = new PerWorker<Stats>(() => ({ prefillN: 0, cleanN: 0, prefillPerToken: 0, decodeN: 0, decodePerToken: 0, prompt: 0, output: 0 }));
    const ahead = new Map<string, number>();
    // Fleet sums of the per-worker means, kept up to date at each completion so a decision is
    // one pass over the candidates.
    const fleet = { prompt: 0, output: 0, prefill: 0, nPrefill: 0, decode: 0, nDecode: 0 };
    /** Adds (sign 1) or removes (sign −1) one worker's means from the fleet sums. */
    const addToFleet = (s: Stats, sign: 1 | -1): void => {
      if (s.prefillN > 0) {
        fleet.prompt += sign * s.prompt;
        fleet.output += sign * s.output;
        fleet.prefill += sign * s.prefillPerToken;
        fleet.nPrefill += sign;
      }
      if (s.decodeN > 0) {
        fleet.decode += sign * s.decodePerToken;
        fleet.nDecode += sign;
      }
    };
    let est = new Float64Array(64);
    const ewma = (mean: number, n: number, x: number): number => mean + (n === 0 ? 1 : alpha) * (x - mean);
    return {
      name: NAME,
      usesPrefix: false,
      pick: (_req, candidates, ctx) => {
        const k = fleet.nPrefill;
        const guessPrompt = k > 0 ? fleet.prompt / k : defPrompt;
        const guessGen = k > 0 ? fleet.output / k : defOutput;
        const fleetPrefill = k > 0 ? fleet.prefill / k : 0;
        const fleetDecode = fleet.nDecode > 0 ? fleet.decode / fleet.nDecode : 0;
        if (est.length < candidates.length) est = new Float64Array(candidates.length * 2);
        for (let i = 0; i < candidates.length; i++) {
          const w = candidates[i];
          const s = stats.at(w.index);
          const prefill = s.prefillN > 0 ? s.prefillPerToken : fleetPrefill;
          const decode = s.decodeN > 0 ? s.decodePerToken : fleetDecode;
          const typicalPrefill = prefill * guessPrompt;
          est[i] = prefill === 0 && decode === 0 ? w.inPrefill : (w.inPrefill + 1) * typicalPrefill + decode * guessGen;
        }
        return { worker: candidates[argminPosition(est, candidates.length, ctx.rng)].index };
      },
      onDispatch: (req, w) => {
        // The Router has already counted this request in inPrefill.
        ahead.set(req.id, w.inPrefill - 1);
      },
      onComplete: (req, w, outcome) => {
        const before = ahead.get(req.id);
        ahead.delete(req.id);
        if (!outcome.ok || outcome.ttftS === undefined || outcome.e2eS === undefined) return;
        const s = stats.at(w.index);
        addToFleet(s, -1);
        const perToken = outcome.ttftS / Math.max(1, req.inputTokens);
        if (before === 0) {
          // A clean prefill sample replaces queue-polluted ones the first time it comes.
          s.prefillPerToken = s.cleanN === 0 ? perToken : ewma(s.prefillPerToken, s.cleanN, perToken);
          s.cleanN++;
          s.prefillN++;
        } else if (s.cleanN === 0) {
          s.prefillPerToken = ewma(s.prefillPerToken, s.prefillN, perToken);
          s.prefillN++;
        }
        s.prompt = ewma(s.prompt, s.decodeN, req.inputTokens);
        s.output = ewma(s.output, s.decodeN, Math.max(0, outcome.outputTokens - 1));
        if (outcome.outputTokens > 1) {
          s.decodePerToken = ewma(s.decodePerToken, s.decodeN, (outcome.e2eS - outcome.ttftS) / (outcome.outputTokens - 1));
        }
        s.decodeN++;
        addToFleet(s, 1);
      },
      onWorkerRemoved: (w) => {
        const s = stats.at(w.index);
        addToFleet(s, -1);
        stats.reset(w.index);
      },
    };
  },
};
