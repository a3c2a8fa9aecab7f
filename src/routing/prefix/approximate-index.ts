import type { PrefixIndex, PrefixIndexSpec, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import { BlockIndex } from './block-index.js';
import { requestBlockHashes } from './request-blocks.js';

/** llm-d's per-server LRU capacity when a worker's KV capacity is unknown. */
export const DEFAULT_LRU_BLOCKS = 31_250;

/** A worker's index capacity in blocks of `blockTokens` tokens (`override` > 0 wins). */
export function lruCapacity(w: WorkerView, blockTokens: number, override: number): number {
  if (override > 0) return override;
  return w.kvCapacityTokens ? Math.floor(w.kvCapacityTokens / blockTokens) : DEFAULT_LRU_BLOCKS;
}

/**
 * The approximate prefix index (llm-d's approximate prefix producer, AIBrix prefix-cache,
 * Dynamo's `--no-router-kv-events` indexer): a dispatched request's blocks are assumed cached on
 * its worker from that moment, in a per-worker LRU sized from the worker's KV capacity, so the
 * index forgets roughly what the engine's own cache would evict (see block-index.ts).
 */
export class ApproximatePrefixIndex implements PrefixIndex {
  readonly index = new BlockIndex();

  constructor(readonly spec: PrefixIndexSpec) {}

  blocks(req: RouteRequest): readonly number[] {
    return requestBlockHashes(req, this.spec.blockSize);
  }

  match(req: RouteRequest, candidates: readonly WorkerView[], out: number[] | Float64Array): number {
    return this.index.match(this.blocks(req), candidates, out);
  }

  recordRouted(req: RouteRequest, worker: WorkerView): void {
    this.index.record(this.blocks(req), worker.index, this.capacity(worker));
  }

  removeWorker(worker: WorkerView): void {
    this.index.removeWorker(worker.index);
  }

  routedBlocks(req: RouteRequest, _worker: WorkerView, out: Map<number, readonly number[]>): void {
    out.set(this.spec.blockSize, this.blocks(req));
  }

  /** Another replica's decision counts as this replica's own: the index is what the fleet routed. */
  recordRemote(blocks: ReadonlyMap<number, readonly number[]>, worker: WorkerView): void {
    const hashes = blocks.get(this.spec.blockSize);
    if (hashes) this.index.record(hashes, worker.index, this.capacity(worker));
  }

  capacity(worker: WorkerView): number {
    return lruCapacity(worker, this.spec.blockSize, this.spec.lruBlocks);
  }

  size(index: number): number {
    return this.index.size(index);
  }

  workerCount(): number {
    return this.index.workerCount();
  }
}
