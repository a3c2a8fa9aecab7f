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
 * A worker with no figures yet borrows the fleet's mean; with no figures anywhere the policy
 * reduces to the fewest requests waiting for a first token.
 */
import type { PolicyFactory, WorkerView } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { numberOpt } from '../options.js';

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
    { name: 'ewma', type: 'number', default: 0.1, description: "weight of each completed request in a worker's running means" },
    { name: 'default_prompt_tokens', type: 'number', default: 10, description: 'typical prompt length before any completion (AIBrix default)' },
    { name: 'default_output_tokens', type: 'number', default: 100, description: 'typical output length before any completion (AIBrix default)' },
  ],
  create: (o) => {
    const alpha = numberOpt(o, NAME, 'ewma', 0, 1);
    const defPrompt = numberOpt(o, NAME, 'default_prompt_tokens', 0);
    const defOutput = numberOpt(o, NAME, 'default_output_tokens', 0);
    const stats: (Stats | undefined)[] = [];
    const ahead = new Map<string, number>();
    let guessPrompt = defPrompt;
    let guessGen = defOutput;
    let fleetPrefill = 0;
    let fleetDecode = 0;
    const estimate = (w: WorkerView): number => {
      const s = stats[w.index];
      const prefill = s && s.prefillN > 0 ? s.prefillPerToken : fleetPrefill;
      const decode = s && s.decodeN > 0 ? s.decodePerToken : fleetDecode;
      if (prefill === 0 && decode === 0) return w.inPrefill;
      const typicalPrefill = prefill * guessPrompt;
      return w.inPrefill * typicalPrefill + typicalPrefill + decode * guessGen;
    };
    const ewma = (mean: number, n: number, x: number): number => mean + (n === 0 ? 1 : alpha) * (x - mean);
    return {
      name: NAME,
      pick: (_req, candidates, ctx) => {
        let p = 0;
        let g = 0;
        let fp = 0;
        let fd = 0;
        let k = 0;
        let kd = 0;
        for (const c of candidates) {
          const s = stats[c.index];
          if (s && s.prefillN > 0) {
            p += s.prompt;
            g += s.output;
            fp += s.prefillPerToken;
            k++;
          }
          if (s && s.decodeN > 0) {
            fd += s.decodePerToken;
            kd++;
          }
        }
        guessPrompt = k > 0 ? p / k : defPrompt;
        guessGen = k > 0 ? g / k : defOutput;
        fleetPrefill = k > 0 ? fp / k : 0;
        fleetDecode = kd > 0 ? fd / kd : 0;
        return { worker: argminRandomTie(candidates, estimate, ctx.rng).index };
      },
      onDispatch: (req, w) => {
        // The Router has already counted this request in inPrefill.
        ahead.set(req.id, w.inPrefill - 1);
      },
      onComplete: (req, w, outcome) => {
        const before = ahead.get(req.id);
        ahead.delete(req.id);
        if (!outcome.ok || outcome.ttftS === undefined || outcome.e2eS === undefined) return;
        let s = stats[w.index];
        if (!s) {
          s = { prefillN: 0, cleanN: 0, prefillPerToken: 0, decodeN: 0, decodePerToken: 0, prompt: 0, output: 0 };
          stats[w.index] = s;
        }
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
      },
      onWorkerRemoved: (w) => {
        stats[w.index] = undefined;
      },
    };
  },
};
