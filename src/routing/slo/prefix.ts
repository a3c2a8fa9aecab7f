import type { PolicyEnv, PrefixIndex, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';

/** Block size assumed for a worker that does not report one (vLLM's default). */
const DEFAULT_BLOCK_TOKENS = 16;

/**
 * How many of a request's prompt tokens a worker will actually compute: the prompt minus the
 * prefix the router last sent that worker (an approximate, routing-time prefix index, as AIBrix's
 * prefix-cache router keeps). The slo* policies look a request up in the tables, and charge its
 * Little's-law consumption, by these tokens: a long prompt whose schema is cached is a short one
 * to compute.
 *
 * An adapter over the routing core's shared PrefixIndex (one per engine block size, sized by each
 * worker's KV capacity), so the slo policies read the same index any prefix plugin of their env
 * does. Matches are memoised per (request, worker) until that worker's index changes: a queued
 * request is ranked at every trigger, and its prompt is long.
 */
export class ComputedPromptTokens {
  private readonly indexes = new Map<number, PrefixIndex>();
  private readonly version: number[] = [];
  private readonly memo = new Map<string, Map<number, { version: number; tokens: number }>>();
  private readonly one = [0];

  constructor(private readonly env: PolicyEnv) {}

  private indexFor(blockTokens: number): PrefixIndex {
    let ix = this.indexes.get(blockTokens);
    if (!ix) {
      ix = this.env.prefixIndex({ blockSize: blockTokens, lruBlocks: 0 });
      this.indexes.set(blockTokens, ix);
    }
    return ix;
  }

  computedTokens(req: RouteRequest, w: WorkerView): number {
    const v = this.version[w.index] ?? 0;
    let perWorker = this.memo.get(req.id);
    const hit = perWorker?.get(w.index);
    if (hit && hit.version === v) return hit.tokens;
    const tokens = v === 0 ? req.inputTokens : this.compute(req, w);
    if (!perWorker) {
      perWorker = new Map();
      this.memo.set(req.id, perWorker);
    }
    perWorker.set(w.index, { version: v, tokens });
    return tokens;
  }

  private compute(req: RouteRequest, w: WorkerView): number {
    const bt = w.blockSize ?? DEFAULT_BLOCK_TOKENS;
    const ix = this.indexFor(bt);
    if (ix.blocks(req).length === 0) return req.inputTokens;
    ix.match(req, [w], this.one);
    // The engine computes at least one token even on a full hit (vLLM).
    return Math.max(1, req.inputTokens - this.one[0] * bt);
  }

  /** The request went to `w`: its prompt blocks are (assumed) cached there from now on. */
  record(req: RouteRequest, w: WorkerView): void {
    this.memo.delete(req.id);
    const ix = this.indexFor(w.blockSize ?? DEFAULT_BLOCK_TOKENS);
    if (ix.blocks(req).length === 0) return;
    ix.recordRouted(req, w);
    this.version[w.index] = (this.version[w.index] ?? 0) + 1;
  }

  /** The request left the queue without being dispatched. */
  forget(reqId: string): void {
    this.memo.delete(reqId);
  }

  removeWorker(w: WorkerView): void {
    for (const ix of this.indexes.values()) ix.removeWorker(w);
    this.version[w.index] = (this.version[w.index] ?? 0) + 1;
  }
}
