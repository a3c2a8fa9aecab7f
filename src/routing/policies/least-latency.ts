/**
 * least-latency: lowest expected latency of a typical request.
 * Semantics: AIBrix `least-latency`: minimise
 *   queue_time + mean(prefill)/avgPromptToks × guessPrompt + mean(decode)/avgGenToks × guessGen,
 * with the guesses the cross-worker means of the per-worker averages (10 prompt / 100 output
 * tokens when nothing is known); a worker without figures counts as 0 (so it gets tried).
 * Deviation (signals): AIBrix reads these means from vLLM's latency histograms. Our router learns
 * the same quantities from its own completed requests instead (which is what those histograms
 * summarise): per worker, exponentially weighted means of TTFT (= queue + prefill, so the queue
 * term and the prefill term are one measured figure), of decode time and of prompt and output
 * lengths. TTFT is rescaled to the typical prompt, decode time per output token to the typical
 * output. Ties random.
 */
import type { PolicyFactory, WorkerView } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { numberOpt } from '../options.js';

const NAME = 'least-latency';

interface Stats {
  n: number;
  ttftS: number;
  decodeS: number;
  prompt: number;
  output: number;
}

export const leastLatencyPolicy: PolicyFactory = {
  name: NAME,
  description: 'Lowest expected TTFT + decode time of a typical request, from the router-observed latencies of each worker (AIBrix least-latency).',
  options: [
    { name: 'ewma', type: 'number', default: 0.1, description: 'weight of each completed request in a worker\'s running means' },
    { name: 'default_prompt_tokens', type: 'number', default: 10, description: 'typical prompt length before any completion (AIBrix default)' },
    { name: 'default_output_tokens', type: 'number', default: 100, description: 'typical output length before any completion (AIBrix default)' },
  ],
  create: (o) => {
    const alpha = numberOpt(o, NAME, 'ewma', 0, 1);
    const defPrompt = numberOpt(o, NAME, 'default_prompt_tokens', 0);
    const defOutput = numberOpt(o, NAME, 'default_output_tokens', 0);
    const stats: (Stats | undefined)[] = [];
    const estimate = (guessPrompt: number, guessGen: number) => (w: WorkerView): number => {
      const s = stats[w.index];
      if (!s || s.n === 0) return 0;
      const prefill = s.prompt > 0 ? (s.ttftS / s.prompt) * guessPrompt : s.ttftS;
      const decode = s.output > 0 ? (s.decodeS / s.output) * guessGen : 0;
      return prefill + decode;
    };
    return {
      name: NAME,
      pick: (_req, candidates, ctx) => {
        let p = 0;
        let g = 0;
        let k = 0;
        for (const c of candidates) {
          const s = stats[c.index];
          if (s && s.n > 0) {
            p += s.prompt;
            g += s.output;
            k++;
          }
        }
        const fn = estimate(k > 0 ? p / k : defPrompt, k > 0 ? g / k : defOutput);
        return { worker: argminRandomTie(candidates, fn, ctx.rng).index };
      },
      onComplete: (req, w, outcome) => {
        if (!outcome.ok || outcome.ttftS === undefined || outcome.e2eS === undefined) return;
        let s = stats[w.index];
        if (!s) {
          s = { n: 0, ttftS: 0, decodeS: 0, prompt: 0, output: 0 };
          stats[w.index] = s;
        }
        const a = s.n === 0 ? 1 : alpha;
        s.n++;
        s.ttftS += a * (outcome.ttftS - s.ttftS);
        s.decodeS += a * (outcome.e2eS - outcome.ttftS - s.decodeS);
        s.prompt += a * (req.inputTokens - s.prompt);
        s.output += a * (Math.max(0, outcome.outputTokens - 1) - s.output);
      },
      onWorkerRemoved: (w) => {
        stats[w.index] = undefined;
      },
    };
  },
};
