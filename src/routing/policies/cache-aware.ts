/**
 * cache-aware: SGLang model gateway `cache_aware` (policies/cache_aware.rs, tree.rs).
 *
 * 1. load = the router's in-flight count per worker. If
 *    (max − min) > balance_abs_threshold AND max > min × balance_rel_threshold, the fleet is
 *    imbalanced: go to the least-loaded worker ("imbalanced").
 * 2. Otherwise match the request's key in the approximate radix tree; rate = matched / key
 *    length. If rate > cache_threshold, go to a worker holding the deepest matched node
 *    ("cache-hit"); else to the least-loaded worker ("cache-miss").
 * 3. Either way the key is inserted for the chosen worker (at dispatch).
 * Defaults are the Rust CLI's (0.3 / 64 / 1.5 / 2^26), the set users actually run; the struct
 * defaults (0.5 / 32 / 1.1 / 10000) are one `--policy-opt` away.
 *
 * Key: the request text when the trace has it (SGLang inserts the request text, never the
 * output); else the prefix identity (token or block ids) encoded as a string (prefix/key.ts),
 * so the policy still works on token-only traces such as Mooncake; no key → least-loaded.
 *
 * Deliberate deviations:
 * - Ties (least-loaded, and among the tenants of the matched node) are broken uniformly at
 *   random: SGLang's `min_by_key` first-worker tie-break sends every cache miss to worker 0 at
 *   low concurrency (sglang #32983). Among matched tenants we take the least loaded, where
 *   SGLang takes the node's last tenant.
 * - Only healthy candidates count as tenants during the match, so the deepest node *with a
 *   healthy tenant* wins (SGLang matches first and then falls back to the first healthy worker).
 * - Eviction runs synchronously when a worker's characters exceed max_tree_size (down to 90%),
 *   not on a timer thread; max_tree_size is per worker as in SGLang, so memory is bounded by
 *   workers × max_tree_size characters (see prefix/radix-tree.ts).
 */
import type { Policy, PolicyFactory, WorkerView } from '../types.js';
import { argminRandomTie } from '../pick.js';
import { numberOpt } from '../options.js';
import { argminOfIndexes, CandidateSet, inFlight, loadRange, ViewLookup } from '../candidates.js';
import { RadixTree } from '../prefix/radix-tree.js';
import { prefixKey } from '../prefix/key.js';

const NAME = 'cache-aware';

/** The policy object, with its tree exposed for tests and benchmarks. */
export interface CacheAwarePolicy extends Policy {
  readonly tree: RadixTree;
}

export const cacheAwarePolicy: PolicyFactory = {
  name: NAME,
  description: 'SGLang cache-aware: approximate radix tree of routed prompts; shortest queue when imbalanced, else the worker with the longest prefix match above cache_threshold.',
  options: [
    { name: 'cache_threshold', type: 'number', default: 0.3, description: 'minimum matched fraction of the prompt to follow the cache' },
    { name: 'balance_abs_threshold', type: 'number', default: 64, description: 'imbalanced when max − min in-flight exceeds this ...' },
    { name: 'balance_rel_threshold', type: 'number', default: 1.5, description: '... and max exceeds min × this' },
    { name: 'max_tree_size', type: 'integer', default: 2 ** 26, description: 'characters (key units) kept per worker in the tree; LRU leaves beyond are evicted' },
  ],
  create: (o): CacheAwarePolicy => {
    const threshold = numberOpt(o, NAME, 'cache_threshold', 0, 1);
    const abs = numberOpt(o, NAME, 'balance_abs_threshold', 0);
    const rel = numberOpt(o, NAME, 'balance_rel_threshold', 0);
    const tree = new RadixTree(numberOpt(o, NAME, 'max_tree_size', 1));
    const cands = new CandidateSet();
    const views = new ViewLookup();
    return {
      name: NAME,
      tree,
      pick(req, candidates, ctx) {
        const index = ctx.inFlightIndex?.(candidates);
        const least = (): WorkerView => index?.argminRandomTie(ctx.rng) ?? argminRandomTie(candidates, inFlight, ctx.rng);
        const { min, max } = index?.range() ?? loadRange(candidates, inFlight);
        if (max - min > abs && max > min * rel) {
          return { worker: least().index, branch: 'imbalanced' };
        }
        const key = prefixKey(req).key;
        if (key.length > 0) {
          cands.reset(candidates);
          const m = tree.match(key, cands.has);
          if (m.node && m.matched / key.length > threshold) {
            views.reset(candidates);
            const w = argminOfIndexes(m.node.tenants, cands.has, views.get, inFlight, ctx.rng);
            if (w) return { worker: w.index, branch: 'cache-hit' };
          }
        }
        return { worker: least().index, branch: 'cache-miss' };
      },
      onDispatch(req, w) {
        tree.insert(prefixKey(req).key, w.index);
      },
      onWorkerRemoved(w) {
        tree.removeTenant(w.index);
        views.clear();
      },
    };
  },
};
