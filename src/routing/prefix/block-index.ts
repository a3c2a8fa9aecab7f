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
 */
export class BlockIndex {
  private readonly holders = new Map<number, Set<number>>();
  private readonly lru: Map<number, true>[] = [];
  /** Scratch output of `match`: workers with a match and their matched block counts. */
  readonly matchWorkers: number[] = [];
  readonly matchBlocks: number[] = [];

  private workerLru(w: number): Map<number, true> {
    let m = this.lru[w];
    if (!m) {
      for (let i = this.lru.length; i <= w; i++) this.lru[i] ??= new Map();
      m = this.lru[w];
    }
    return m;
  }

  /** Blocks the index holds for a worker. */
  size(w: number): number {
    return this.lru[w]?.size ?? 0;
  }

  has(w: number, hash: number): boolean {
    return this.lru[w]?.has(hash) ?? false;
  }

  /** Records a prompt's blocks for worker `w`, whose LRU holds at most `capacityBlocks` blocks. */
  record(hashes: readonly number[], w: number, capacityBlocks: number): void {
    const lru = this.workerLru(w);
    const cap = Math.max(1, Math.floor(capacityBlocks));
    while (lru.size > cap) this.evictOldest(w, lru);
    for (let i = hashes.length - 1; i >= 0; i--) {
      const h = hashes[i];
      if (lru.delete(h)) {
        lru.set(h, true);
        continue;
      }
      lru.set(h, true);
      let set = this.holders.get(h);
      if (!set) {
        set = new Set();
        this.holders.set(h, set);
      }
      set.add(w);
      if (lru.size > cap) this.evictOldest(w, lru);
    }
  }

  private evictOldest(w: number, lru: Map<number, true>): void {
    const old = lru.keys().next().value as number;
    lru.delete(old);
    const set = this.holders.get(old);
    if (set) {
      set.delete(w);
      if (set.size === 0) this.holders.delete(old);
    }
  }

  /**
   * Contiguous prefix match: fills `matchWorkers`/`matchBlocks` with every eligible worker holding
   * at least the first block and the number of leading blocks it holds; returns how many.
   */
  match(hashes: readonly number[], eligible: (w: number) => boolean): number {
    const ws = this.matchWorkers;
    const bs = this.matchBlocks;
    ws.length = 0;
    bs.length = 0;
    if (hashes.length === 0) return 0;
    const first = this.holders.get(hashes[0]);
    if (!first) return 0;
    let alive = 0;
    for (const w of first) {
      if (!eligible(w)) continue;
      ws.push(w);
      bs.push(0);
      alive++;
    }
    // ws[0..alive) are still matching; a worker that drops out is swapped behind them.
    for (let i = 0; i < hashes.length && alive > 0; i++) {
      const set = i === 0 ? first : this.holders.get(hashes[i]);
      let j = 0;
      while (j < alive) {
        if (set && set.has(ws[j])) {
          bs[j] = i + 1;
          j++;
        } else {
          alive--;
          const tw = ws[j];
          const tb = bs[j];
          ws[j] = ws[alive];
          bs[j] = bs[alive];
          ws[alive] = tw;
          bs[alive] = tb;
        }
      }
    }
    return ws.length;
  }

  removeWorker(w: number): void {
    const lru = this.lru[w];
    if (!lru) return;
    for (const h of lru.keys()) {
      const set = this.holders.get(h);
      if (set) {
        set.delete(w);
        if (set.size === 0) this.holders.delete(h);
      }
    }
    lru.clear();
  }
}
