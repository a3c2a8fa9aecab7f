/**
 * KV blocks of one worker, as vLLM v1's block pool keeps them: reference counts, a hash → block
 * map for the prefix cache, and a free queue ordered for LRU eviction. A freed block keeps its
 * hash (still a cache hit) until it is taken for new content from the head of the free queue.
 */
/** Fields of a block's record in `BlockPool.meta` (one 16-byte record per block, four to a cache line). */
const REF = 0;
/** The allocation stamp of the block's content: changes whenever the block is allocated anew. */
const GEN = 1;
/** Where the block's live entry in the free ring is (an index into `ring`), or -1 when it is not free. */
const QPOS = 2;
/** 1 while `hash` holds the block's content hash. */
const HASHED = 3;
const STRIDE = 4;
/**
 * A ring entry is `block * 4 + flags`; a block taken off the free queue by a prefix hit leaves
 * STALE behind. The flags say whether anything can still find the block while it is free, and so
 * whether its record must be kept: E_HASHED (the prefix cache's map names it) or E_WATCHED (it was
 * released by a preemption, whose sequence may take it back through `holds`). A block with neither
 * can only ever be allocated again, so its record is neither written when it is released nor when
 * it is allocated privately (`allocatePrivate`).
 */
const E_HASHED = 1;
const E_WATCHED = 2;
/** Either flag: something can find the block while it is free, so its record is kept. */
const FINDABLE = E_HASHED | E_WATCHED;
const STALE = -1;

export class BlockPool {
  readonly total: number;
  /**
   * Reference count, generation, free-ring position and a hashed flag of every block, interleaved:
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
   * no entries: a pool costs nothing to build and its records are touched only when used.
   */
  private fresh = 0;
  /**
   * The released part of the free queue, after the fresh blocks: a ring of entries in release
   * order, `ringCount` entries from slot `ringHead` on (wrapping around). An entry is the block id
   * and flags (`block * 4 + flags`: E_HASHED, E_WATCHED); a cached block taken off the queue by a
   * prefix hit leaves a STALE entry behind that allocation skips. A ring instead of a linked list:
   * taking and returning a block touch the ring's ends in order and the block's own record, never a
   * neighbour's record elsewhere in the pool. Allocation only writes the record of the block it
   * takes (the entry says whether it must evict a hash), so taking the least recently released
   * block, whose record is long out of the CPU caches, does not wait for that record to load.
   */
  private readonly ring: Int32Array;
  private ringHead = 0;
  private ringCount = 0;
  private freeCount: number;
  /** The last allocation stamp handed out (GEN); stamps are unique per pool, so a saved one matches only until the block is allocated again. */
  private stamp = 0;
  private readonly byHash = new Map<number, number>();
  /** Blocks with ref > 0. */
  used = 0;
  /** Told the hash of each cached block evicted for new content (KV offload tiers take it). */
  onEvict: ((h: number) => void) | null = null;

  constructor(total: number, readonly cachingEnabled: boolean) {
    this.total = total;
    this.meta = new Int32Array(total * STRIDE);
    this.hash = new Float64Array(total);
    // Room for every block plus stale entries; `compact` makes room when prefix hits left too many.
    this.ring = new Int32Array(total + Math.max(16, total >> 3));
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
   * preemption, without a hash-map entry per block. Only blocks that were last released with
   * `preempted` set may be found this way (their free entries are the only ones kept findable).
   */
  holds(b: number, g: number): boolean {
    return this.cachingEnabled && this.meta[b * STRIDE + GEN] === g;
  }

  /** Whether block `b` holds content registered under a hash (a prefix-cache entry, live or not). */
  isCached(b: number): boolean {
    return this.meta[b * STRIDE + HASHED] === 1;
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
      // Off the free queue: its ring entry goes stale.
      const q = b * STRIDE + QPOS;
      this.ring[this.meta[q]] = STALE;
      this.meta[q] = -1;
      this.freeCount--;
      this.used++;
    }
    this.meta[r]++;
  }

  /** Takes a fresh block from the LRU end, evicting whatever it cached. Caller checks `free` first. */
  allocate(): number {
    const e = this.takeFree();
    const b = e >> 2;
    if ((e & E_HASHED) !== 0) this.evict(b);
    this.stampRecord(b);
    this.used++;
    return b;
  }

  /**
   * `allocate` for a block that stays private to its one holder until it is released by
   * `release(…, privateFrom)` past `privateFrom`, by a preemption's `release(…, …, true)`, or is
   * `register`ed (which starts keeping its count). Such a block can never be found while it is
   * held (no hash names it, and no preempted sequence saved its generation since this allocation
   * came from an entry without E_WATCHED), so its record is not written at all: allocating and
   * releasing the block then touch only the free ring's ends, never its record, which is a cache
   * miss almost every time (a fleet's pools are far larger than the CPU caches). Its stale record
   * is never read: `refCount`/`generation` of such a block are meaningless until then.
   */
  allocatePrivate(): number {
    const e = this.takeFree();
    const b = e >> 2;
    if ((e & FINDABLE) !== 0) {
      if ((e & E_HASHED) !== 0) this.evict(b);
      // Its generation changes, so a preempted sequence's saved one no longer `holds`.
      this.stampRecord(b);
    }
    this.used++;
    return b;
  }

  /** The next free block as a ring entry (block * 4 + flags): a never-used block (no flags) first, else the LRU end. */
  private takeFree(): number {
    if (this.fresh < this.total) {
      this.freeCount--;
      return this.fresh++ << 2;
    }
    return this.takeReleased();
  }

  /** Drops the cache entry of a hashed block taken for new content. */
  private evict(b: number): void {
    const h = this.hash[b];
    if (this.byHash.get(h) === b) {
      this.byHash.delete(h);
      if (this.onEvict !== null) this.onEvict(h);
    }
    this.meta[b * STRIDE + HASHED] = 0;
  }

  /** A newly allocated block's record: one reference, a new generation. Stores only: see `ring`. */
  private stampRecord(b: number): void {
    const m = this.meta;
    const o = b * STRIDE;
    m[o + REF] = 1;
    m[o + GEN] = this.stamp = this.stamp === 0x7fffffff ? 1 : this.stamp + 1;
    m[o + QPOS] = -1;
  }

  /**
   * Records that block `b` now holds the full block with hash `h` (vLLM caches full blocks only).
   * False when nothing new was cached (caching off, or another block already holds `h`).
   * `b` is private to its one holder (a block of `allocatePrivate` may have a stale count): from
   * here on its holder releases it by counting (it is before `privateFrom`), cached or not.
   */
  register(b: number, h: number): boolean {
    this.meta[b * STRIDE + REF] = 1;
    if (!this.cachingEnabled || this.byHash.has(h)) return false;
    this.hash[b] = h;
    this.meta[b * STRIDE + HASHED] = 1;
    this.byHash.set(h, b);
    return true;
  }

  /**
   * Drops one reference from each of `blocks[0..end)`, last block first, so a request's tail blocks sit nearer
   * the eviction end than its prefix (vLLM frees in reverse order for the same reason).
   * `blocks[privateFrom..]` are private to the caller: allocated for it and never registered, so
   * each has exactly one reference and no hash. Nothing can find such a block while it is free, so
   * its record is not even written (see `allocatePrivate`), unless `preempted`: a preempted
   * sequence saves its blocks' generations to take them back (`holds`), so their free entries are
   * marked E_WATCHED (taking one for new content changes its generation), and their records say
   * where the entry is for a hit (`touch`).
   */
  release(blocks: number[], privateFrom = blocks.length, preempted = false, end = blocks.length): void {
    const m = this.meta;
    const ring = this.ring;
    let i = end - 1;
    const from = privateFrom < 0 ? 0 : privateFrom;
    if (i >= from) {
      // Room for all of them at once (`pushBack` compacts one at a time).
      if (this.ringCount + i + 1 - from > ring.length) this.compact();
      let slot = this.ringHead + this.ringCount;
      if (preempted) {
        for (; i >= from; i--) {
          if (slot >= ring.length) slot -= ring.length;
          const b = blocks[i];
          const o = b * STRIDE;
          m[o + REF] = 0;
          ring[slot] = b * 4 + E_WATCHED;
          m[o + QPOS] = slot;
          slot++;
        }
      } else {
        for (; i >= from; i--) {
          if (slot >= ring.length) slot -= ring.length;
          ring[slot] = blocks[i] * 4;
          slot++;
        }
      }
      const n = end - from;
      this.ringCount += n;
      this.freeCount += n;
      this.used -= n;
    }
    for (; i >= 0; i--) {
      const b = blocks[i];
      if (--m[b * STRIDE + REF] === 0) {
        this.used--;
        this.pushBack(b, preempted);
      }
    }
  }

  /** The ring entry of the least recently released free block, taken off the ring (stale entries skipped). */
  private takeReleased(): number {
    const ring = this.ring;
    while (this.ringCount > 0) {
      const slot = this.ringHead;
      this.ringHead = slot + 1 === ring.length ? 0 : slot + 1;
      this.ringCount--;
      const e = ring[slot];
      if (e !== STALE) {
        this.freeCount--;
        return e;
      }
    }
    throw new Error('BlockPool.allocate: no free block');
  }

  private pushBack(b: number, watched: boolean): void {
    if (this.ringCount === this.ring.length) this.compact();
    let slot = this.ringHead + this.ringCount;
    if (slot >= this.ring.length) slot -= this.ring.length;
    const o = b * STRIDE;
    this.ring[slot] = b * 4 + (this.meta[o + HASHED] === 1 ? E_HASHED : 0) + (watched ? E_WATCHED : 0);
    this.meta[o + QPOS] = slot;
    this.ringCount++;
    this.freeCount++;
  }

  /** Drops the stale entries, keeping the live ones in order at the front of the ring. */
  private compact(): void {
    const ring = this.ring;
    const m = this.meta;
    const live: number[] = [];
    for (let i = 0, slot = this.ringHead; i < this.ringCount; i++, slot = slot + 1 === ring.length ? 0 : slot + 1) {
      const e = ring[slot];
      if (e !== STALE) live.push(e);
    }
    live.forEach((e, i) => {
      ring[i] = e;
      // Only a block something can find is ever looked up by its entry's position (`touch`).
      if ((e & FINDABLE) !== 0) m[(e >> 2) * STRIDE + QPOS] = i;
    });
    this.ringHead = 0;
    this.ringCount = live.length;
  }
}
