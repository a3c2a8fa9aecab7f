/** Slots the table starts with, and the most it grows to (beyond that, collisions go to a Map). */
const INITIAL_SLOTS = 1024;
const MAX_SLOTS = 1 << 20;

/**
 * Values keyed by an increasing sequence number (integers from 0 to 2^53, as a counter hands
 * them out), in a ring indexed by the key's low bits: set, get and delete are an array access, with
 * no hash table. A value still present when a key `slots` later lands on its slot moves to a
 * small overflow Map (or the ring doubles, while it is at most half full).
 *
 * Why not a Map: see SlotSet (src/util/slot-set.ts) — a long-lived Map with thousands of
 * inserts and deletes a second leaves dead tables in the old generation that keep what they
 * held alive through scavenges, so short-lived values get promoted instead of dying young.
 * Here a deleted value's slot is cleared at once, and the ring is only reallocated when it grows.
 */
export class SeqTable<T> {
  private vals: (T | undefined)[] = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  private keys = new Float64Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  /** Values whose slot a newer key took (they outlived `slots` newer keys). */
  private readonly overflow = new Map<number, T>();
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Ring slots now (for tests and retained-state checks). */
  get slots(): number {
    return this.vals.length;
  }

  /** Values that did not fit the ring (for tests and retained-state checks). */
  get overflowed(): number {
    return this.overflow.size;
  }

  set(key: number, value: T): void {
    if (this.overflow.size > 0 && this.overflow.has(key)) {
      this.overflow.set(key, value);
      return;
    }
    const i = key & this.mask;
    const held = this.vals[i];
    if (held !== undefined) {
      if (this.keys[i] === key) {
        this.vals[i] = value;
        return;
      }
      if (this.vals.length < MAX_SLOTS && this.n < this.vals.length / 2) {
        this.grow();
        this.set(key, value);
        return;
      }
      this.overflow.set(this.keys[i], held);
    }
    this.vals[i] = value;
    this.keys[i] = key;
    this.n++;
  }

  get(key: number): T | undefined {
    const i = key & this.mask;
    const v = this.vals[i];
    if (v !== undefined && this.keys[i] === key) return v;
    return this.overflow.size > 0 ? this.overflow.get(key) : undefined;
  }

  delete(key: number): boolean {
    const i = key & this.mask;
    if (this.vals[i] !== undefined && this.keys[i] === key) {
      this.vals[i] = undefined;
      this.n--;
      return true;
    }
    if (this.overflow.size > 0 && this.overflow.delete(key)) {
      this.n--;
      return true;
    }
    return false;
  }

  /** Calls `fn` for each value (ring order, then overflow); `fn` must not add or delete. */
  forEach(fn: (value: T) => void): void {
    const vals = this.vals;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) fn(v);
    }
    if (this.overflow.size > 0) for (const v of this.overflow.values()) fn(v);
  }

  /** The values now, as a new array (ring order, then overflow). */
  values(): T[] {
    const out: T[] = [];
    for (const v of this.vals) if (v !== undefined) out.push(v);
    for (const v of this.overflow.values()) out.push(v);
    return out;
  }

  /** Doubles the ring; the held values keep distinct slots (one more low bit tells them apart). */
  private grow(): void {
    const cap = this.vals.length * 2;
    const vals = new Array<T | undefined>(cap).fill(undefined);
    const keys = new Float64Array(cap);
    const mask = cap - 1;
    for (let i = 0; i < this.vals.length; i++) {
      const v = this.vals[i];
      if (v === undefined) continue;
      const j = this.keys[i] & mask;
      vals[j] = v;
      keys[j] = this.keys[i];
    }
    this.vals = vals;
    this.keys = keys;
    this.mask = mask;
  }
}
