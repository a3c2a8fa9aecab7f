/**
 * preble: Preble's E2 global scheduler (WukLab/preble global_scheduler_with_time.py; AIBrix
 * prefix-cache-preble), over the same approximate radix tree as cache-aware.
 *
 * - Exploit: if the longest match among healthy workers covers more of the prompt than it leaves
 *   uncached (matched > new part), go to a worker holding that match; among several, the one
 *   with the least windowed load ("exploit").
 * - Explore: otherwise go to the worker with the least total cost ("explore"):
 *     windowed prefill load  = uncached prompt tokens routed to it in the last window_s × prefill cost
 *   + this request's prefill = its uncached tokens on that worker × prefill cost
 *   + decode load            = in-flight requests × decode_tokens × tpot.
 *   Ties random.
 * Defaults: Preble's 3-minute window; AIBrix's 45 decode tokens per running request. Prefill
 * cost per token and TPOT are options (the router does not know the hardware): 0.15 ms/token and
 * 30 ms are an 8B model on an L20/A100-class GPU (our roofline: 2048-token prefill ≈ 0.3 s,
 * batch-32 decode step ≈ 32 ms).
 * Deviations: Preble's third term, the eviction cost of the blocks a request would displace, is
 * left out (our tree does not model each GPU's eviction order); Preble's post-assignment load
 * rebalancing and autoscaling of hot prefixes are not reproduced. The key is the request text,
 * else its prefix identity (as for cache-aware).
 */
import type { Policy, PolicyFactory, WorkerView } from '../types.js';
import { numberOpt } from '../options.js';
import { argminOfIndexes, argminPosition, CandidateSet, ensureIndex, PerWorker, ViewLookup } from '../candidates.js';
import { RadixTree } from '../prefix/radix-tree.js';
import { prefixKey } from '../prefix/key.js';

const NAME = 'preble';

interface Routed {
  t: number;
  tokens: number;
}

export interface PreblePolicy extends Policy {
  readonly tree: RadixTree;
}

export const preblePolicy: PolicyFactory = {
  name: NAME,
  description: 'Preble E2: exploit a worker holding the prompt when the cached part exceeds the new part, else explore by windowed prefill + decode load.',
  options: [
    { name: 'window_s', type: 'number', default: 180, description: 'window of the prefill-load history (seconds)' },
    { name: 'prefill_ms_per_token', type: 'number', default: 0.15, description: 'prefill cost of one uncached prompt token' },
    { name: 'tpot_ms', type: 'number', default: 30, description: 'time per output token of a running request' },
    { name: 'decode_tokens', type: 'number', default: 45, description: 'output tokens still expected per running request' },
    { name: 'max_tree_size', type: 'integer', default: 2 ** 26, description: 'characters (key units) kept per worker in the tree' },
  ],
  create: (o): PreblePolicy => {
    const window = numberOpt(o, NAME, 'window_s', 0);
    const prefillMs = numberOpt(o, NAME, 'prefill_ms_per_token', 0);
    const tpot = numberOpt(o, NAME, 'tpot_ms', 0);
    const decodeTokens = numberOpt(o, NAME, 'decode_tokens', 0);
    const tree = new RadixTree(numberOpt(o, NAME, 'max_tree_size', 1));
    const cands = new CandidateSet();
    const views = new ViewLookup();
    // per worker: uncached prompt tokens routed within the window, oldest first from `head`
    const win = new PerWorker(() => ({ history: [] as Routed[], head: 0, tokens: 0 }));
    const matched: number[] = [];
    let cost = new Float64Array(64);
    let lastUncached = 0;

    const expire = (w: number, now: number): void => {
      const s = win.at(w);
      const h = s.history;
      let i = s.head;
      while (i < h.length && h[i].t < now - window) s.tokens -= h[i++].tokens;
      if (i > 1024 && i * 2 > h.length) {
        h.splice(0, i);
        i = 0;
      }
      s.head = i;
    };
    const load = (w: WorkerView): number => win.at(w.index).tokens * prefillMs + w.inFlight * decodeTokens * tpot;

    return {
      name: NAME,
      tree,
      pick(req, candidates, ctx) {
        const now = ctx.clock.now();
        for (const c of candidates) {
          expire(c.index, now);
          ensureIndex(matched, c.index, 0);
          matched[c.index] = 0;
        }
        const key = prefixKey(req).key;
        const len = key.length;
        cands.reset(candidates);
        if (len > 0) {
          const m = tree.match(key, cands.has);
          if (m.node && m.matched > len - m.matched) {
            views.reset(candidates);
            const w = argminOfIndexes(m.node.tenants, cands.has, views.get, load, ctx.rng);
            if (w) {
              lastUncached = req.inputTokens * (1 - m.matched / len);
              return { worker: w.index, branch: 'exploit' };
            }
          }
          tree.matchByTenant(key, cands.has, matched);
        }
        if (cost.length < candidates.length) cost = new Float64Array(candidates.length);
        for (let i = 0; i < candidates.length; i++) {
          const c = candidates[i];
          const uncached = len > 0 ? req.inputTokens * (1 - matched[c.index] / len) : req.inputTokens;
          cost[i] = load(c) + uncached * prefillMs;
        }
        const best = candidates[argminPosition(cost, candidates.length, ctx.rng)];
        lastUncached = len > 0 ? req.inputTokens * (1 - matched[best.index] / len) : req.inputTokens;
        return { worker: best.index, branch: 'explore' };
      },
      onDispatch(req, w, ctx) {
        tree.insert(prefixKey(req).key, w.index);
        const s = win.at(w.index);
        s.history.push({ t: ctx.clock.now(), tokens: lastUncached });
        s.tokens += lastUncached;
        lastUncached = 0;
      },
      onWorkerRemoved(w) {
        tree.removeTenant(w.index);
        win.reset(w.index);
        views.clear();
      },
    };
  },
};
