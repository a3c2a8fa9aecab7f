import type { Rng } from '../util/rng.js';
import type { WorkerView } from './types.js';

/**
 * Membership test for the candidates of one decision, by worker index; reused across decisions so
 * a pick allocates nothing. Prefix indexes hold every worker ever routed to, and must only answer
 * with the healthy candidates of this decision.
 */
export class CandidateSet {
  private mark = new Uint32Array(16);
  private gen = 0;
  /** The list the marks are of: the router's candidate lists are immutable snapshots, so a repeat is free. */
  private list: readonly WorkerView[] | null = null;
  readonly has = (w: number): boolean => w < this.mark.length && this.mark[w] === this.gen;

  reset(candidates: readonly WorkerView[]): void {
    if (candidates === this.list) return;
    this.list = candidates;
    if (++this.gen === 0xffffffff) {
      this.mark.fill(0);
      this.gen = 1;
    }
    for (const c of candidates) {
      if (c.index >= this.mark.length) {
        const grown = new Uint32Array(Math.max(c.index + 1, this.mark.length * 2));
        grown.set(this.mark);
        this.mark = grown;
      }
      this.mark[c.index] = this.gen;
    }
  }
}

/** Minimum and maximum of a per-worker load over the candidates. */
export function loadRange(candidates: readonly WorkerView[], load: (w: WorkerView) => number): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const c of candidates) {
    const l = load(c);
    if (l < min) min = l;
    if (l > max) max = l;
  }
  return { min, max };
}

export const inFlight = (w: WorkerView): number => w.inFlight;

/** Index → view for the candidates of one decision, rebuilt only when the list object changes. */
export class ViewLookup {
  private list: readonly WorkerView[] | null = null;
  private byIndex: (WorkerView | undefined)[] = [];
  readonly get = (w: number): WorkerView | undefined => this.byIndex[w];
  /** Drops the cached list (a worker was removed: hold no reference to its view). */
  clear(): void {
    this.list = null;
    this.byIndex = [];
  }

  reset(candidates: readonly WorkerView[]): void {
    if (candidates === this.list) return;
    this.list = candidates;
    this.byIndex = [];
    for (const c of candidates) {
      ensureIndex(this.byIndex, c.index, undefined);
      this.byIndex[c.index] = c;
    }
  }
}

/** The candidate with the lowest `load` among the keys of `workers` (indexes), ties random; undefined if none is a candidate. */
export function argminOfIndexes(
  workers: ReadonlyMap<number, unknown>,
  has: (w: number) => boolean,
  view: (w: number) => WorkerView | undefined,
  load: (w: WorkerView) => number,
  rng: Rng,
): WorkerView | undefined {
  let bestLoad = Infinity;
  let ties = 0;
  for (const t of workers.keys()) {
    const w = has(t) ? view(t) : undefined;
    if (!w) continue;
    const l = load(w);
    if (l < bestLoad) {
      bestLoad = l;
      ties = 1;
    } else if (l === bestLoad) ties++;
  }
  if (ties === 0) return undefined;
  let k = ties > 1 ? rng.int(ties) : 0;
  for (const t of workers.keys()) {
    const w = has(t) ? view(t) : undefined;
    if (w && load(w) === bestLoad && k-- === 0) return w;
  }
  return undefined;
}

/** Position of the lowest of `values[0..n)`, ties uniformly at random (one draw). */
export function argminPosition(values: ArrayLike<number>, n: number, rng: Rng): number {
  let best = 0;
  let ties = 1;
  for (let i = 1; i < n; i++) {
    if (values[i] < values[best]) {
      best = i;
      ties = 1;
    } else if (values[i] === values[best]) ties++;
  }
  if (ties === 1) return best;
  let k = rng.int(ties);
  for (let i = best; i < n; i++) if (values[i] === values[best] && k-- === 0) return i;
  return best;
}

/** Position of the highest of `values[0..n)`, ties uniformly at random (one draw, only on a tie). */
export function argmaxPosition(values: ArrayLike<number>, n: number, rng: Rng): number {
  let best = 0;
  let ties = 1;
  for (let i = 1; i < n; i++) {
    if (values[i] > values[best]) {
      best = i;
      ties = 1;
    } else if (values[i] === values[best]) ties++;
  }
  if (ties === 1) return best;
  let k = rng.int(ties);
  for (let i = best; i < n; i++) if (values[i] === values[best] && k-- === 0) return i;
  return best;
}

/**
 * Per-worker state in a dense array grown in index order: assigning `arr[300]` to an empty JS
 * array would switch it to slow dictionary elements, and every lookup after would pay for it.
 */
export class PerWorker<T> {
  private readonly items: T[] = [];
  constructor(private readonly make: () => T) {}

  at(i: number): T {
    const a = this.items;
    while (a.length <= i) a.push(this.make());
    return a[i];
  }

  reset(i: number): void {
    if (i < this.items.length) this.items[i] = this.make();
  }
}

/** Grows `arr` in index order up to `i` with `fill`, keeping its elements fast. */
export function ensureIndex<T>(arr: T[], i: number, fill: T): void {
  while (arr.length <= i) arr.push(fill);
}
