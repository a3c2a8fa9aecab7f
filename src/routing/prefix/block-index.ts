import { NumberLru } from '../../util/number-lru.js';
import { ensureIndex } from '../candidates.js';

/**
 * Approximate block-hash prefix index (AIBrix prefix-cache / llm-d approximate prefix scorer /
 * Dynamo's approximate indexer): which worker was sent which chained block hash. Written at
 * routing time (speculatively: the block is assumed cached once the request is dispatched), never
 * from engine events.
 *
 * One LRU per worker, sized in blocks from the worker's KV capacity (llm-d sizes it from
 * `num_gpu_blocks`), so the index forgets roughly what the engine's own LRU would evict. A
 * prompt's blocks are recorded last-block-first, so the prompt's head is the most recently used
 * and its tail is forgotten first, as vLLM frees a finished sequence's blocks tail-first.
 * The match walks each candidate's own LRU (no reverse map from block to workers): one lookup
 * per candidate, then one per matched block.
 */
export class BlockIndex {
  private readonly lru: (NumberLru | undefined)[] = [];
  /** Blocks the index holds for a worker. */
  size(w: number): number {
    return this.lru[w]?.size ?? 0;
  }

  has(w: number, hash: number): boolean {
    return this.lru[w]?.has(smallKey(hash)) ?? false;
  }

  /** Records a prompt's blocks for worker `w`, whose LRU holds at most `capacityBlocks` blocks. */
  record(hashes: readonly number[], w: number, capacityBlocks: number): void {
    const cap = Math.max(1, Math.floor(capacityBlocks));
    let lru = this.lru[w];
    if (!lru) {
      lru = new NumberLru(cap);
      ensureIndex(this.lru, w, undefined);
      this.lru[w] = lru;
    } else if (lru.capacity !== cap) {
      lru.capacity = cap;
      while (lru.size > cap) lru.evictOldest();
    }
    for (let i = hashes.length - 1; i >= 0; i--) lru.touch(smallKey(hashes[i]));
  }

  /**
   * Contiguous prefix match: `out[i]` = how many leading blocks of `hashes` candidate `i` holds.
   * Returns how many candidates hold at least the first block. Cost: one lookup per candidate
   * plus one per matched block.
   */
  match(hashes: readonly number[], candidates: readonly { index: number }[], out: number[] | Float64Array): number {
    let found = 0;
    const h0 = hashes.length > 0 ? smallKey(hashes[0]) : 0;
    for (let c = 0; c < candidates.length; c++) {
      const lru = this.lru[candidates[c].index];
      if (hashes.length === 0 || !lru || !lru.has(h0)) {
        out[c] = 0;
        continue;
      }
      let i = 1;
      while (i < hashes.length && lru.has(smallKey(hashes[i]))) i++;
      out[c] = i;
      found++;
    }
    return found;
  }

  /** Forgets worker `w` entirely (its LRU and storage go; the slot may be reused). */
  removeWorker(w: number): void {
    if (w >= this.lru.length) return;
    this.lru[w] = undefined;
    while (this.lru.length > 0 && this.lru[this.lru.length - 1] === undefined) this.lru.pop();
  }

  /** Workers the index holds an LRU for (leak tests). */
  workerCount(): number {
    let n = 0;
    for (const l of this.lru) if (l) n++;
    return n;
  }
}

/**
 * Index keys are the low 30 bits of the 53-bit chained hashes, so Map keys stay small integers
 * (V8 hashes those without allocating). A false match needs a 2^-30 collision per lookup: about
 * 1e-4 per decision even against 100k indexed blocks, negligible for an index that is
 * approximate by design.
 */
function smallKey(h: number): number {
  return (h % 1073741824) | 0;
}
