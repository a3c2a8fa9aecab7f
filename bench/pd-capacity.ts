/**
 * Prefill capacity vs a trace's prompt demand, from the same step pricer the simulator uses:
 * tells a saturated prefill pool (queues grow without bound) from a simulator bug.
 */
import type { StepShape } from '../src/engine/step-cost.js';
import type { Deployment } from '../src/profiles/types.js';
import { stepCostFor } from '../src/profiles/step-cost-factory.js';
import type { Request } from '../src/workload/request.js';

export interface PrefillDemand {
  /** Arrival span of the requests, seconds. */
  spanS: number;
  promptTokensPerS: number;
  /** Seconds one GPU worker needs to prefill every prompt alone (no cache hits), per second of trace. */
  workerSecondsPerS: number;
  /** Prompt tokens per second one worker prefills, averaged over this trace's prompt lengths. */
  workerTokensPerS: number;
}

/**
 * Prices every prompt as vLLM would run it alone on an idle worker: chunks of
 * max_num_batched_tokens, chunk i attending to the i·chunk tokens before it (causal pairs
 * l·(c + l/2)), no prefix-cache hits. Batching several prompts in one step does not change the
 * compute-bound price of a long prompt, so the sum is the pool's busy time.
 */
export async function prefillDemand(requests: AsyncIterable<Request> | Iterable<Request>, d: Deployment): Promise<PrefillDemand> {
  const cost = stepCostFor(d);
  const chunk = d.engine.maxNumBatchedTokens;
  let busy = 0;
  let tokens = 0;
  let first = Infinity;
  let last = -Infinity;
  const shape: StepShape = { tokens: 0, seqs: 1, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: 0, prefillChunks: 1 };
  for await (const r of requests) {
    first = Math.min(first, r.arrivalS);
    last = Math.max(last, r.arrivalS);
    tokens += r.inputTokens;
    for (let c = 0; c < r.inputTokens; c += chunk) {
      const l = Math.min(chunk, r.inputTokens - c);
      shape.tokens = l;
      shape.prefillAttnPairs = l * (c + l / 2);
      shape.prefillKvTokens = c + l;
      busy += cost.seconds(shape);
    }
  }
  const spanS = last - first;
  return { spanS, promptTokensPerS: tokens / spanS, workerSecondsPerS: busy / spanS, workerTokensPerS: tokens / busy };
}
