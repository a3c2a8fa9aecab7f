/**
 * KV offload tiers under a worker's HBM prefix cache (vLLM's KV offloading connector, LMCache,
 * SGLang HiCache, Mooncake Store): a full block whose HBM copy is evicted goes down to the CPU
 * tier, a block the CPU tier evicts goes down to the disk tier, the disk tier drops it. A prompt
 * whose HBM prefix hit ends where a lower tier continues it loads those blocks back into fresh HBM
 * blocks before the step that uses them, at the tier's bandwidth (the step waits: a blocking load,
 * as LMCache's retrieve does). Tiers are inclusive: a loaded block stays in its tier.
 *
 * Storing is not priced: blocks go down on eviction, from memory that already holds them, off the
 * critical path (the copy overlaps the step that needed the HBM block).
 */

/** `engine.kv_offload` of a fleet entry. Capacities GiB (2^30 B), bandwidths GB/s (1e9 B/s), of the whole worker. */
export interface KvOffloadConfig {
  readonly cpuGib: number;
  readonly cpuGbps: number;
  readonly diskGib: number;
  readonly diskGbps: number;
}

export type OffloadTierName = 'cpu' | 'disk';

/** Counters of one tier (tokens are block tokens: a hit or load is whole blocks). */
export interface OffloadTierStats {
  readonly tier: OffloadTierName;
  readonly capacityBlocks: number;
  /** Blocks it holds now. */
  readonly blocks: number;
  /** Prompt tokens found here (not in HBM) at admissions. */
  readonly hitTokens: number;
  /** Seconds spent loading blocks from here into HBM. */
  readonly loadS: number;
  /** Bytes loaded from here into HBM. */
  readonly loadedBytes: number;
  /** Blocks that came down into this tier. */
  readonly stored: number;
  /** Blocks this tier evicted (to the tier below, or dropped). */
  readonly evicted: number;
}

/**
 * An LRU set of block hashes: hash → slot map plus a doubly linked list over typed arrays (grown
 * by doubling up to the capacity), so touch, insert and evict-oldest are O(1). A JS Map used as
 * an LRU by delete/re-insert is not: finding its oldest key skips every deleted entry before it,
 * which made a Mooncake run with a CPU tier 20× slower. (src/routing/prefix/lru.ts holds the same
 * structure for the router; the engine layer may not import it.)
 */
class HashLru {
  private readonly slot = new Map<number, number>();
  private keys = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = -1;
  private tail = -1;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.slot.size;
  }

  has(h: number): boolean {
    return this.slot.has(h);
  }

  /** Makes `h` most recent; false when it is absent. */
  touch(h: number): boolean {
    const s = this.slot.get(h);
    if (s === undefined) return false;
    if (s !== this.head) {
      this.unlink(s);
      this.linkFront(s);
    }
    return true;
  }

  /** Inserts absent `h` as most recent; returns the hash it evicted when full, else undefined. */
  insert(h: number): number | undefined {
    let at: number;
    let evicted: number | undefined;
    if (this.slot.size >= this.capacity) {
      at = this.tail;
      evicted = this.keys[at];
      this.slot.delete(evicted);
      this.unlink(at);
    } else {
      at = this.slot.size;
      if (at === this.keys.length) this.grow();
    }
    this.keys[at] = h;
    this.slot.set(h, at);
    this.linkFront(at);
    return evicted;
  }

  private grow(): void {
    const n = Math.min(this.capacity, Math.max(64, this.keys.length * 2));
    const k = new Float64Array(n);
    k.set(this.keys);
    const p = new Int32Array(n);
    p.set(this.prev);
    const x = new Int32Array(n);
    x.set(this.next);
    this.keys = k;
    this.prev = p;
    this.next = x;
  }

  private unlink(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private linkFront(s: number): void {
    this.prev[s] = -1;
    this.next[s] = this.head;
    if (this.head >= 0) this.prev[this.head] = s;
    this.head = s;
    if (this.tail < 0) this.tail = s;
  }
}

class Tier {
  /** Hashes this tier holds, least recently used first out. */
  readonly lru: HashLru;
  hitTokens = 0;
  loadS = 0;
  loadedBytes = 0;
  stored = 0;
  evicted = 0;

  constructor(
    readonly name: OffloadTierName,
    readonly capacityBlocks: number,
    /** Seconds to load one block into HBM. */
    readonly blockLoadS: number,
  ) {
    this.lru = new HashLru(capacityBlocks);
  }
}

/** The lower tiers of one worker, fed by the HBM pool's evictions and read at admission. */
export class KvOffloadTiers {
  private readonly tiers: Tier[] = [];

  /**
   * `blockBytes` = KV bytes of one block on the whole worker (all its GPUs): the tiers hold and
   * move whole blocks. A tier with no capacity is left out.
   */
  constructor(cfg: KvOffloadConfig, readonly blockBytes: number) {
    const add = (name: OffloadTierName, gib: number, gbps: number): void => {
      const capacity = Math.floor((gib * 2 ** 30) / blockBytes);
      if (capacity > 0) this.tiers.push(new Tier(name, capacity, blockBytes / (gbps * 1e9)));
    };
    add('cpu', cfg.cpuGib, cfg.cpuGbps);
    add('disk', cfg.diskGib, cfg.diskGbps);
  }

  /** An HBM block with content hash `h` was evicted: it goes into the first tier (MRU). */
  store(h: number): void {
    if (this.tiers.length > 0) this.put(0, h);
  }

  /**
   * Leading blocks of `hashes[from..limit)` the lower tiers hold, one after the other (a block
   * counts when any tier holds it; the chain stops at the first block none holds).
   */
  match(hashes: readonly number[], from: number, limit: number): number {
    const end = Math.min(limit, hashes.length);
    let n = 0;
    for (let i = from; i < end; i++) {
      if (this.tierOf(hashes[i]) === null) break;
      n++;
    }
    return n;
  }

  /**
   * Loads `count` blocks of `hashes` from `from` (found by `match`) into HBM: counts them per tier,
   * refreshes their LRU position, and returns the seconds the load takes (tiers one after another).
   */
  load(hashes: readonly number[], from: number, count: number, blockTokens: number): number {
    let s = 0;
    for (let i = from; i < from + count; i++) {
      const t = this.tierOf(hashes[i]);
      if (t === null) continue;
      t.lru.touch(hashes[i]);
      t.hitTokens += blockTokens;
      t.loadS += t.blockLoadS;
      t.loadedBytes += this.blockBytes;
      s += t.blockLoadS;
    }
    return s;
  }

  stats(): OffloadTierStats[] {
    return this.tiers.map((t) => ({
      tier: t.name,
      capacityBlocks: t.capacityBlocks,
      blocks: t.lru.size,
      hitTokens: t.hitTokens,
      loadS: t.loadS,
      loadedBytes: t.loadedBytes,
      stored: t.stored,
      evicted: t.evicted,
    }));
  }

  /** Blocks held by tier `name` (0 when the worker has no such tier). */
  holds(name: OffloadTierName, h: number): boolean {
    const t = this.tiers.find((x) => x.name === name);
    return t !== undefined && t.lru.has(h);
  }

  private tierOf(h: number): Tier | null {
    for (const t of this.tiers) if (t.lru.has(h)) return t;
    return null;
  }

  private put(i: number, h: number): void {
    const t = this.tiers[i];
    if (t.lru.touch(h)) return;
    const oldest = t.lru.insert(h);
    t.stored++;
    if (oldest === undefined) return;
    t.evicted++;
    if (i + 1 < this.tiers.length) this.put(i + 1, oldest);
  }
}
