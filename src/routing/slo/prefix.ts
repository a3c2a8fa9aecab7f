import { BlockIndex } from '../prefix/block-index.js';
import { requestBlockHashes } from '../prefix/request-blocks.js';
import type { WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';

/** Block size assumed for a worker that does not report one (vLLM's default). */
const DEFAULT_BLOCK_TOKENS = 16;
/** Index size for a worker of unknown KV capacity (serve without a profile): 16M tokens of blocks. */
const UNKNOWN_CAPACITY_BLOCKS = 1 << 20;

/**
 * How many of a request's prompt tokens a worker will actually compute: the prompt minus the
 * prefix the router last sent that worker (an approximate, routing-time prefix index, as AIBrix's
 * prefix-cache router keeps). The slo* policies look a request up in the tables, and charge its
 * Little's-law consumption, by these tokens: a long prompt whose schema is cached is a short one
 * to compute.
 *
 * This is the small adapter over `BlockIndex` the slo policies need (`computedTokens`, `record`,
 * `removeWorker`), so the shared prefix-index interface can replace it without touching them.
 * Matches are memoised per (request, worker) until that worker's index changes: a queued
 * request is ranked at every trigger, and its prompt is long.
 */
export class ComputedPromptTokens {
  private readonly index = new BlockIndex();
  private readonly version: number[] = [];
  private readonly memo = new Map<string, Map<number, { version: number; tokens: number }>>();
  private readonly one = [0];

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
    const hashes = requestBlockHashes(req, bt);
    if (hashes.length === 0) return req.inputTokens;
    this.index.match(hashes, [w], this.one);
    // The engine computes at least one token even on a full hit (vLLM).
    return Math.max(1, req.inputTokens - this.one[0] * bt);
  }

  /** The request went to `w`: its prompt blocks are (assumed) cached there from now on. */
  record(req: RouteRequest, w: WorkerView): void {
    this.memo.delete(req.id);
    const bt = w.blockSize ?? DEFAULT_BLOCK_TOKENS;
    const hashes = requestBlockHashes(req, bt);
    if (hashes.length === 0) return;
    const capacity = w.kvCapacityTokens !== undefined ? w.kvCapacityTokens / bt : UNKNOWN_CAPACITY_BLOCKS;
    this.index.record(hashes, w.index, capacity);
    this.version[w.index] = (this.version[w.index] ?? 0) + 1;
  }

  /** The request left the queue without being dispatched. */
  forget(reqId: string): void {
    this.memo.delete(reqId);
  }

  removeWorker(w: number): void {
    this.index.removeWorker(w);
    this.version[w] = (this.version[w] ?? 0) + 1;
  }
}
