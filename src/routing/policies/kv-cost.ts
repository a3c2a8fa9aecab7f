/**
 * kv-cost: NVIDIA Dynamo KV router cost (docs/components/router/router-concepts.md):
 *   cost = prefill_load_scale · max(active_prefill_blocks + prompt_blocks − overlap_blocks, 0)
 *          + active_decode_blocks + prompt_blocks
 * lowest cost wins, ties random (Dynamo PR #6253); with `temperature` > 0 the worker is sampled
 * from softmax(−cost / max cost / temperature) instead (Dynamo `--router-temperature`).
 *
 * State, all router-side as Dynamo keeps it (AddRequest / MarkPrefillCompleted / Free):
 * - active_prefill_blocks: uncached blocks (prompt − overlap at dispatch) of requests on the
 *   worker that have not produced a first token;
 * - active_decode_blocks: distinct KV blocks held by the requests on the worker: a prefix block
 *   shared by several in-flight requests counts once (reference-counted per worker, as Dynamo's
 *   active-sequence tracker and the engine's block pool share them), plus each request's
 *   unhashed tail block;
 * - overlap_blocks: the worker's contiguous prefix match in an approximate block index written
 *   at routing time (Dynamo's `--no-router-kv-events` approximate indexer; our router gets no KV
 *   events), with a per-worker LRU sized from its KV capacity (device credit 1.0).
 * Deviation: Dynamo grows a request's active blocks as output tokens stream; the Router does not
 * see tokens one by one, so a request's decode blocks stay at its prompt blocks until it ends.
 */
import type { Policy, PolicyFactory, PrefixIndex, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import { num } from '../options.js';
import { argminPosition, PerWorker } from '../candidates.js';
import { createPolicyEnv } from '../env.js';

const NAME = 'kv-cost';

interface Active {
  prefill: number;
  /** Blocks of this request no other request shares (its unhashed tail). */
  own: number;
  hashes: readonly number[];
  prefilling: boolean;
}

export interface KvCostPolicy extends Policy {
  readonly index: PrefixIndex;
  /** The cost each candidate would have for `req` (for tests and debugging). */
  costs(req: RouteRequest, candidates: readonly WorkerView[]): number[];
}

export const kvCostPolicy: PolicyFactory = {
  name: NAME,
  description: 'Dynamo KV router: prefill_load_scale · max(active prefill + prompt − overlap blocks, 0) + decode blocks; lowest cost (or softmax sampling).',
  options: [
    { name: 'block_size', type: 'integer', default: 16, min: 1, description: 'tokens per KV block' },
    { name: 'prefill_load_scale', type: 'number', default: 1, min: 0, description: 'weight of the prefill term' },
    { name: 'temperature', type: 'number', default: 0, min: 0, description: '0 = lowest cost; > 0 = sample softmax over normalized costs' },
    { name: 'lru_blocks', type: 'integer', default: 0, min: 0, description: 'overlap index capacity per worker in blocks (0 = KV capacity / block_size)' },
  ],
  create: (o, env = createPolicyEnv()): KvCostPolicy => {
    const bs = num(o, 'block_size');
    const scale = num(o, 'prefill_load_scale');
    const temperature = num(o, 'temperature');
    const lru = num(o, 'lru_blocks');
    const index = env.prefixIndex({ blockSize: bs, lruBlocks: lru });
    // per worker: uncached blocks still in prefill, distinct active blocks, and their references
    const load = new PerWorker(() => ({ prefill: 0, decode: 0, refs: new Map<number, number>() }));
    const active = new Map<string, Active>();
    const overlap: number[] = [];
    const cost = new Float64Array(4096);
    let lastOverlap = 0;

    const fillCosts = (req: RouteRequest, candidates: readonly WorkerView[], out: { [i: number]: number }): void => {
      const promptBlocks = Math.ceil(req.inputTokens / bs);
      index.match(req, candidates, overlap);
      for (let i = 0; i < candidates.length; i++) {
        const l = load.at(candidates[i].index);
        const prefill = Math.max(l.prefill + promptBlocks - overlap[i], 0);
        out[i] = scale * prefill + l.decode + promptBlocks;
      }
    };

    return {
      name: NAME,
      index,
      costs(req, candidates) {
        const out: number[] = [];
        fillCosts(req, candidates, out);
        return out;
      },
      pick(req, candidates, ctx) {
        const c = candidates.length <= cost.length ? cost : new Float64Array(candidates.length);
        fillCosts(req, candidates, c);
        let at: number;
        if (temperature > 0) {
          let maxCost = 0;
          for (let i = 0; i < candidates.length; i++) maxCost = Math.max(maxCost, c[i]);
          const norm = maxCost > 0 ? maxCost : 1;
          let total = 0;
          // softmax(−cost/norm/T), shifted by the best logit for stability
          let best = Infinity;
          for (let i = 0; i < candidates.length; i++) best = Math.min(best, c[i]);
          for (let i = 0; i < candidates.length; i++) {
            c[i] = Math.exp(-(c[i] - best) / norm / temperature);
            total += c[i];
          }
          let u = ctx.rng.next() * total;
          let k = 0;
          while (k < candidates.length - 1 && u >= c[k]) u -= c[k++];
          at = k;
        } else {
          at = argminPosition(c, candidates.length, ctx.rng);
        }
        lastOverlap = overlap[at];
        return { worker: candidates[at].index, branch: lastOverlap > 0 ? 'overlap' : 'no-overlap' };
      },
      onDispatch(req, w) {
        const promptBlocks = Math.ceil(req.inputTokens / bs);
        const prefill = Math.max(0, promptBlocks - lastOverlap);
        lastOverlap = 0;
        const l = load.at(w.index);
        l.prefill += prefill;
        const hashes = index.blocks(req);
        const own = promptBlocks - hashes.length;
        const m = l.refs;
        let added = own;
        for (const h of hashes) {
          const c = m.get(h) ?? 0;
          if (c === 0) added++;
          m.set(h, c + 1);
        }
        l.decode += added;
        active.set(req.id, { prefill, own, hashes, prefilling: true });
        env.recordRouted(req, w);
      },
      onFirstToken(req, w) {
        const a = active.get(req.id);
        if (!a || !a.prefilling) return;
        a.prefilling = false;
        load.at(w.index).prefill -= a.prefill;
      },
      onComplete(req, w) {
        const a = active.get(req.id);
        if (!a) return;
        active.delete(req.id);
        const l = load.at(w.index);
        if (a.prefilling) l.prefill -= a.prefill;
        const m = l.refs;
        let removed = a.own;
        for (const h of a.hashes) {
          const c = (m.get(h) ?? 1) - 1;
          if (c === 0) {
            m.delete(h);
            removed++;
          } else m.set(h, c);
        }
        l.decode -= removed;
      },
      onWorkerRemoved(w) {
        env.removeWorker(w);
        load.reset(w.index);
      },
    };
  },
};
