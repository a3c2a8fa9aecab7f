import { NumberLru } from '../util/number-lru.js';
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

class Tier {
  /** Hashes this tier holds, least recently used first out. */
  readonly lru: NumberLru;
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
    this.lru = new NumberLru(capacityBlocks);
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
    const { inserted, evicted: oldest } = t.lru.touch(h);
    if (!inserted) return;
    t.stored++;
    if (oldest === undefined) return;
    t.evicted++;
    if (i + 1 < this.tiers.length) this.put(i + 1, oldest);
  }
}
