/**
 * prefix-cache: AIBrix `prefix-cache` (prefix_cache.go) with llm-d's approximate index sizing.
 *
 * 1. Hash the prompt into chained block hashes (`block_size` tokens per block; from the prompt's
 *    token/block identity, else from its text in `block_size × 4`-character chunks; the trailing
 *    partial block is not hashed).
 * 2. Imbalance gate: if max − min in-flight > imbalance_abs_count, only the workers at the
 *    minimum count stay candidates.
 * 3. Contiguous match: walking the blocks in order, a worker survives while it holds every block
 *    so far; its match% = floor(matched × 100 / blocks).
 * 4. Sort matched workers by match% descending, then in-flight ascending, ties random (AIBrix
 *    shuffles then sorts stably); take the first whose in-flight ≤ mean + stddev_factor · σ
 *    (mean and sample σ over all healthy workers) → "prefix-hit".
 * 5. No match, or none under the cap → least-request → "prefix-miss" / "overloaded".
 * 6. At dispatch the prompt's blocks are recorded for the chosen worker (speculative, as AIBrix's
 *    PostRouteUpdate and llm-d's PreRequest do) in the policy's prefix index (the approximate
 *    one by default: a per-worker LRU sized from the worker's KV capacity, kvCapacityTokens /
 *    block_size blocks as llm-d sizes it from num_gpu_blocks; `lru_blocks` overrides; 31,250
 *    when the capacity is unknown, llm-d's default).
 * Defaults: the code defaults (AIBrix ENV_VARS.md) imbalance 8 and σ-factor 1; block size in
 * tokens (16, vLLM's block) rather than AIBrix's bytes, since our traces carry tokens.
 * Deviation: AIBrix's single global LRU of 200,000 blocks with a 20-minute expiry is replaced by
 * llm-d's per-worker LRU, so the index forgets what each engine's cache can no longer hold.
 */
import type { Policy, PolicyFactory, PrefixIndex } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { num } from '../options.js';
import { inFlight, loadRange } from '../candidates.js';
import { createPolicyEnv } from '../env.js';

const NAME = 'prefix-cache';

export interface PrefixCachePolicy extends Policy {
  readonly index: PrefixIndex;
}

export const prefixCachePolicy: PolicyFactory = {
  name: NAME,
  description: 'AIBrix prefix-cache: contiguous block-hash match with an imbalance gate and a mean + k·σ load cap; least-request fallback.',
  options: [
    { name: 'block_size', type: 'integer', default: 16, min: 1, description: 'tokens per hashed block' },
    { name: 'imbalance_abs_count', type: 'number', default: 8, min: 0, description: 'if max − min in-flight exceeds this, only the least-loaded workers are considered' },
    { name: 'stddev_factor', type: 'number', default: 1, min: 0, description: 'a matched worker is skipped if its in-flight > mean + this × σ' },
    { name: 'lru_blocks', type: 'integer', default: 0, min: 0, description: 'index capacity per worker in blocks (0 = its KV capacity / block_size)' },
  ],
  create: (o, env = createPolicyEnv()): PrefixCachePolicy => {
    const bs = num(o, 'block_size');
    const imbalance = num(o, 'imbalance_abs_count');
    const k = num(o, 'stddev_factor');
    const lru = num(o, 'lru_blocks');
    const index = env.prefixIndex({ blockSize: bs, lruBlocks: lru });
    const matched: number[] = [];
    // Scratch for sorting matched workers.
    const order: number[] = [];
    const pct: number[] = [];
    const tie: number[] = [];
    return {
      name: NAME,
      index,
      pick(req, candidates, ctx) {
        const hashes = index.blocks(req);
        // The router's in-flight index, when it has one for this list: the scan's sums, range and pick in O(log n).
        const loads = ctx.inFlightIndex?.(candidates);
        // mean and sample σ of in-flight over every healthy worker
        let sum = loads?.total();
        let sq = loads?.sumSquares();
        if (sum === undefined || sq === undefined) {
          sum = 0;
          sq = 0;
          for (const c of candidates) {
            sum += c.inFlight;
            sq += c.inFlight * c.inFlight;
          }
        }
        const n = candidates.length;
        const mean = sum / n;
        const sigma = n > 1 ? Math.sqrt(Math.max(0, (sq - n * mean * mean) / (n - 1))) : 0;
        const { min, max } = loads?.range() ?? loadRange(candidates, inFlight);
        let pool = candidates;
        if (max - min > imbalance) pool = candidates.filter((c) => c.inFlight === min);
        const least = (): number => (pool === candidates && loads ? loads.argminRandomTie(ctx.rng) : argminRandomTie(pool, inFlight, ctx.rng)).index;
        if (hashes.length === 0) return { worker: least(), branch: 'no-prefix' };
        const found = index.match(req, pool, matched);
        if (found === 0) return { worker: least(), branch: 'prefix-miss' };
        order.length = 0;
        for (let i = 0; i < pool.length; i++) {
          if (matched[i] === 0) continue;
          order.push(i);
          pct[i] = Math.floor((matched[i] * 100) / hashes.length);
          tie[i] = ctx.rng.next();
        }
        order.sort((a, b) => pct[b] - pct[a] || pool[a].inFlight - pool[b].inFlight || tie[a] - tie[b]);
        const cap = mean + k * sigma;
        for (const i of order) {
          if (pool[i].inFlight <= cap) return { worker: pool[i].index, branch: 'prefix-hit' };
        }
        return { worker: least(), branch: 'overloaded' };
      },
      onDispatch(req, w) {
        env.recordRouted(req, w);
      },
      onWorkerRemoved(w) {
        env.removeWorker(w);
      },
    };
  },
};
