/**
 * KV blocks of one worker, as vLLM v1's block pool keeps them: reference counts, a hash → block
 * map for the prefix cache, and a free queue ordered for LRU eviction. A freed block keeps its
 * hash (still a cache hit) until it is taken for new content from the head of the free queue.
 */
/** Fields of a block's record in `BlockPool.meta` (one 32-byte record per block). */
const REF = 0;
const GEN = 1;
const PREV = 2;
const NEXT = 3;
/** 1 while `hash` holds the block's content hash. */
const HASHED = 4;
const STRIDE = 8;

export class BlockPool {
  readonly total: number;
  /**
   * Reference count, generation, free-queue links and a hashed flag of every block, interleaved:
   * a fleet's pools are far larger than the CPU caches and LRU allocation walks them in no
   * particular order, so one cache line per block touched (instead of one per field) is most of
   * what allocation and release cost.
   */
  private readonly meta: Int32Array;
  /** Content hash of a block (valid while its HASHED flag is set). */
  private readonly hash: Float64Array;
  /**
   * Blocks [fresh, total) were never handed out. They are the front of the free queue, in index
   * order (releases join at the back and only cached blocks leave from the middle), so they need
   * no links: a pool costs nothing to build and its records are touched only when used.
   */
  private fresh = 0;
  /** The linked part of the free queue (released blocks), after the fresh ones. */
  private head = -1;
  private tail = -1;
  private freeCount: number;
  private readonly byHash = new Map<number, number>();
  /** Blocks with ref > 0. */
  used = 0;

  constructor(total: number, readonly cachingEnabled: boolean) {
    this.total = total;
    this.meta = new Int32Array(total * STRIDE);
    this.hash = new Float64Array(total);
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
    return this.meta[b * STRIDE + REF];
  }

  generation(b: number): number {
    return this.meta[b * STRIDE + GEN];
  }

  /**
   * Whether block `b` still holds what it held at generation `g` (nobody allocated it since).
   * Private content (generated tokens, prompts without identity) is found this way after a
   * preemption, without a hash-map entry per block.
   */
  holds(b: number, g: number): boolean {
    return this.cachingEnabled && this.meta[b * STRIDE + GEN] === g;
  }

  /** The cached block with this hash, or -1. */
  lookup(h: number): number {
    if (!this.cachingEnabled) return -1;
    const b = this.byHash.get(h);
    return b === undefined ? -1 : b;
  }

  /** Takes a reference on a cached block (a prefix hit), removing it from the free queue if idle. */
  touch(b: number): void {
    const r = b * STRIDE + REF;
    if (this.meta[r] === 0) {
      this.unlink(b);
      this.used++;
    }
    this.meta[r]++;
  }

  /** Takes a fresh block from the LRU end, evicting whatever it cached. Caller checks `free` first. */
  allocate(): number {
    let b: number;
    if (this.fresh < this.total) {
      b = this.fresh++;
      this.freeCount--;
    } else {
      b = this.head;
      if (b < 0) throw new Error('BlockPool.allocate: no free block');
      this.unlink(b);
    }
    const m = this.meta;
    const o = b * STRIDE;
    if (m[o + HASHED] === 1) {
      const h = this.hash[b];
      if (this.byHash.get(h) === b) this.byHash.delete(h);
      m[o + HASHED] = 0;
    }
    m[o + REF] = 1;
    m[o + GEN]++;
    this.used++;
    return b;
  }

  /** Records that block `b` now holds the full block with hash `h` (vLLM caches full blocks only). */
  register(b: number, h: number): void {
    if (!this.cachingEnabled || this.byHash.has(h)) return;
    this.hash[b] = h;
    this.meta[b * STRIDE + HASHED] = 1;
    this.byHash.set(h, b);
  }

  /**
   * Drops one reference from each block, last block first, so a request's tail blocks sit nearer
   * the eviction end than its prefix (vLLM frees in reverse order for the same reason).
   */
  release(blocks: number[]): void {
    const m = this.meta;
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i];
      if (--m[b * STRIDE + REF] === 0) {
        this.used--;
        this.pushBack(b);
      }
    }
  }

  private unlink(b: number): void {
    const m = this.meta;
    const o = b * STRIDE;
    const p = m[o + PREV];
    const n = m[o + NEXT];
    if (p >= 0) m[p * STRIDE + NEXT] = n;
    else this.head = n;
    if (n >= 0) m[n * STRIDE + PREV] = p;
    else this.tail = p;
    m[o + PREV] = -1;
    m[o + NEXT] = -1;
    this.freeCount--;
  }

  private pushBack(b: number): void {
    const m = this.meta;
    const o = b * STRIDE;
    m[o + PREV] = this.tail;
    m[o + NEXT] = -1;
    if (this.tail >= 0) m[this.tail * STRIDE + NEXT] = b;
    else this.head = b;
    this.tail = b;
    this.freeCount++;
  }
}
