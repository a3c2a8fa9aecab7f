/**
 * KV blocks of one worker, as vLLM v1's block pool keeps them: reference counts, a hash → block
 * map for the prefix cache, and a free queue ordered for LRU eviction. A freed block keeps its
 * hash (still a cache hit) until it is taken for new content from the head of the free queue.
 */
export class BlockPool {
  readonly total: number;
  private readonly ref: Int32Array;
  private readonly hash: Float64Array;
  /** Bumped each time a block is handed out, so a holder of (block, generation) knows if it was reused. */
  private readonly gen: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private freeCount: number;
  private readonly byHash = new Map<number, number>();
  /** Blocks with ref > 0. */
  used = 0;
  /** Told the hash of each cached block evicted (KV event publishers: vLLM's BlockRemoved). */
  onEvict?: (hash: number) => void;

  constructor(total: number, readonly cachingEnabled: boolean) {
    this.total = total;
    this.ref = new Int32Array(total);
    this.hash = new Float64Array(total).fill(NaN);
    this.gen = new Int32Array(total);
    this.prev = new Int32Array(total);
    this.next = new Int32Array(total);
    for (let i = 0; i < total; i++) {
      this.prev[i] = i - 1;
      this.next[i] = i + 1 < total ? i + 1 : -1;
    }
    this.head = total > 0 ? 0 : -1;
    this.tail = total - 1;
    this.freeCount = total;
  }

  /** Blocks that can be handed out now (free, cached or not). */
  get free(): number {
    return this.freeCount;
  }

  /** Number of cached blocks (free or in use) the cache map knows. */
  get cachedBlocks(): number {
    return this.byHash.size;
  }

  refCount(b: number): number {
    return this.ref[b];
  }

  generation(b: number): number {
    return this.gen[b];
  }

  /**
   * Whether block `b` still holds what it held at generation `g` (nobody allocated it since).
   * Private content (generated tokens, prompts without identity) is found this way after a
   * preemption, without a hash-map entry per block.
   */
  holds(b: number, g: number): boolean {
    return this.cachingEnabled && this.gen[b] === g;
  }

  /** The cached block with this hash, or -1. */
  lookup(h: number): number {
    if (!this.cachingEnabled) return -1;
    const b = this.byHash.get(h);
    return b === undefined ? -1 : b;
  }

  /** Takes a reference on a cached block (a prefix hit), removing it from the free queue if idle. */
  touch(b: number): void {
    if (this.ref[b] === 0) {
      this.unlink(b);
      this.used++;
    }
    this.ref[b]++;
  }

  /** Takes a fresh block from the LRU end, evicting whatever it cached. Caller checks `free` first. */
  allocate(): number {
    const b = this.head;
    if (b < 0) throw new Error('BlockPool.allocate: no free block');
    this.unlink(b);
    const h = this.hash[b];
    if (!Number.isNaN(h)) {
      if (this.byHash.get(h) === b) {
        this.byHash.delete(h);
        this.onEvict?.(h);
      }
      this.hash[b] = NaN;
    }
    this.ref[b] = 1;
    this.gen[b]++;
    this.used++;
    return b;
  }

  /**
   * Records that block `b` now holds the full block with hash `h` (vLLM caches full blocks only).
   * False when nothing new was cached (caching off, or another block already holds `h`).
   */
  register(b: number, h: number): boolean {
    if (!this.cachingEnabled || this.byHash.has(h)) return false;
    this.hash[b] = h;
    this.byHash.set(h, b);
    return true;
  }

  /**
   * Drops one reference from each block, last block first, so a request's tail blocks sit nearer
   * the eviction end than its prefix (vLLM frees in reverse order for the same reason).
   */
  release(blocks: number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i];
      if (--this.ref[b] === 0) {
        this.used--;
        this.pushBack(b);
      }
    }
  }

  private unlink(b: number): void {
    const p = this.prev[b];
    const n = this.next[b];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[b] = -1;
    this.next[b] = -1;
    this.freeCount--;
  }

  private pushBack(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = -1;
    if (this.tail >= 0) this.next[this.tail] = b;
    else this.head = b;
    this.tail = b;
    this.freeCount++;
  }
}
