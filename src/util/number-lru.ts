/**
 * A fixed-capacity LRU set of numbers (block hashes): a hash → slot map plus a doubly linked
 * list over typed arrays, so touch, insert and evict-oldest are O(1). (A JS Map used as an LRU by
 * delete/re-insert degrades: iterating to the oldest key skips every deleted slot before it.)
 * Storage grows by doubling up to the capacity, so a large, mostly empty LRU costs little.
 */
export class NumberLru {
  private readonly slot = new Map<number, number>();
  private keys = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = -1; // most recent
  private tail = -1; // least recent
  private used = 0;

  constructor(public capacity: number) {}

  get size(): number {
    return this.slot.size;
  }

  has(key: number): boolean {
    return this.slot.has(key);
  }

  /**
   * Marks `key` most recently used, inserting it if absent. Returns the evicted key when the
   * insert pushed the set over capacity, else undefined; `inserted` tells whether it was new.
   */
  touch(key: number): { inserted: boolean; evicted: number | undefined } {
    const s = this.slot.get(key);
    if (s !== undefined) {
      this.moveToFront(s);
      return NOT_INSERTED;
    }
    let evicted: number | undefined;
    let at: number;
    if (this.slot.size >= this.capacity && this.tail >= 0) {
      at = this.tail;
      evicted = this.keys[at];
      this.slot.delete(evicted);
      this.unlink(at);
    } else {
      if (this.used === this.keys.length) this.grow();
      at = this.used++;
    }
    this.keys[at] = key;
    this.slot.set(key, at);
    this.linkFront(at);
    return evicted === undefined ? INSERTED : { inserted: true, evicted };
  }

  /** Evicts the least recently used key; undefined when empty. */
  evictOldest(): number | undefined {
    if (this.tail < 0) return undefined;
    const at = this.tail;
    const key = this.keys[at];
    this.slot.delete(key);
    this.unlink(at);
    // Move the last used slot into the hole so storage stays dense.
    const last = --this.used;
    if (at !== last) {
      const k = this.keys[last];
      const p = this.prev[last];
      const n = this.next[last];
      this.keys[at] = k;
      this.prev[at] = p;
      this.next[at] = n;
      if (p >= 0) this.next[p] = at;
      else this.head = at;
      if (n >= 0) this.prev[n] = at;
      else this.tail = at;
      this.slot.set(k, at);
    }
    return key;
  }

  *values(): IterableIterator<number> {
    for (const k of this.slot.keys()) yield k;
  }

  clear(): void {
    this.slot.clear();
    this.head = this.tail = -1;
    this.used = 0;
  }

  private grow(): void {
    const n = Math.min(this.capacity, Math.max(16, this.keys.length * 2));
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

  private moveToFront(s: number): void {
    if (this.head === s) return;
    this.unlink(s);
    this.linkFront(s);
  }
}

const NOT_INSERTED = { inserted: false, evicted: undefined } as const;
const INSERTED = { inserted: true, evicted: undefined } as const;
