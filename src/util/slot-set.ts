/** A member of a SlotSet: the set keeps the member's position in it here (-1 when in none). */
export interface Slotted {
  slot: number;
}

/**
 * A set of objects that each carry their own position (`slot`), backed by one array that only
 * ever grows: add and delete are a store or two, with no hash table.
 *
 * Why not a Set: a long-lived Set (or Map) whose members come and go by the thousand per second
 * rehashes into a fresh table every few hundred inserts, and the table it leaves behind still
 * points at the members it held. That dead table sits in the old generation until the next
 * mark-compact, so every scavenge until then treats those members as alive: short-lived objects
 * (a request and all it references) get copied and promoted instead of dying young, and the old
 * heap fills up. Here a removed member's slot is overwritten at once, and the array is only
 * reallocated when the set outgrows every size it had before.
 *
 * A member is in at most one SlotSet at a time (it has one `slot`).
 */
export class SlotSet<T extends Slotted> {
  private readonly items: (T | undefined)[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  has(x: T): boolean {
    return x.slot >= 0 && x.slot < this.n && this.items[x.slot] === x;
  }

  add(x: T): void {
    if (this.has(x)) return;
    x.slot = this.n;
    if (this.n === this.items.length) this.items.push(x);
    else this.items[this.n] = x;
    this.n++;
  }

  /** Removes `x` (the last member takes its slot); false when it was not in the set. */
  delete(x: T): boolean {
    if (!this.has(x)) return false;
    const i = x.slot;
    const last = this.n - 1;
    const moved = this.items[last] as T;
    this.items[i] = moved;
    moved.slot = i;
    this.items[last] = undefined;
    this.n = last;
    x.slot = -1;
    return true;
  }

  /** The members now, as a new array (safe to iterate while members are removed). */
  toArray(): T[] {
    return this.items.slice(0, this.n) as T[];
  }
}
