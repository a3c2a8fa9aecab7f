import { UserError } from '../util/errors.js';
import type { WorkerView } from './types.js';
import { localInFlight } from './shared-state.js';

/**
 * The fields a driver gives for a new worker; the registry assigns `id` and `index` and zeroes
 * the router's counters. The object itself becomes the worker's view (adopted, not copied), so a
 * driver that built it keeps a live reference to what the policies see.
 */
export type WorkerInit = Omit<WorkerView, 'id' | 'index' | 'inFlight' | 'inFlightPromptTokens' | 'inPrefill' | 'healthy'> & {
  healthy?: boolean;
};

/**
 * - `active`: a routing candidate (when healthy);
 * - `draining`: takes no new request, its in-flight ones finish; stays registered until removed;
 * - `removing`: removal asked while requests were in flight: draining, and freed with the last one.
 */
export type WorkerState = 'active' | 'draining' | 'removing';

export type WorkerEvent =
  | { type: 'added'; worker: WorkerView }
  /** The worker stopped taking new requests (drain, or a removal waiting for in-flight requests). */
  | { type: 'draining'; worker: WorkerView }
  /** A draining worker has no request in flight any more. */
  | { type: 'drained'; worker: WorkerView }
  /** A drained worker takes requests again. */
  | { type: 'resumed'; worker: WorkerView }
  /** The worker is gone: the registry and the router hold nothing of it after this event. */
  | { type: 'removed'; worker: WorkerView };

export type WorkerListener = (e: WorkerEvent) => void;

/**
 * Bumped by every health change of any worker: a registry re-filters its eligible list only when
 * this moved (or its own lists changed), so a decision reads its candidates without a fleet scan.
 */
let healthEpoch = 0;

/**
 * Marks a worker healthy or not. The one way to change `WorkerView.healthy` (the field is
 * readonly to everyone else), so every router's eligible list follows health flips.
 */
export function setHealthy(view: WorkerView, healthy: boolean): void {
  if (view.healthy === healthy) return;
  (view as { healthy: boolean }).healthy = healthy;
  healthEpoch++;
}

/** A second worker with the same name or URL; `existing` is the one already registered. */
export class WorkerExistsError extends UserError {
  constructor(
    readonly existing: WorkerView,
    what: string,
  ) {
    super(`worker ${existing.name}${existing.url ? ` (${existing.url})` : ''} is already registered with this ${what}`);
  }
}

interface Entry {
  view: WorkerView;
  state: WorkerState;
}

/**
 * Every worker the router may route to (sgl-model-gateway's `WorkerRegistry`): add, drain,
 * resume, remove, lookups by stable id, name, URL and model, and change notifications.
 *
 * Two numbers name a worker:
 * - `id`: stable and never reused (admin APIs, logs);
 * - `index`: its slot, dense and reused after a removal (the lowest free slot first). Policies
 *   keep per-worker state in arrays by `index`, so their memory is bounded by the most workers
 *   registered at once, not by how many were ever added; a policy frees a slot's state when it
 *   hears `onWorkerRemoved`, before the slot can be reused.
 *
 * The lists (`workers`, `routable`) are immutable snapshots replaced on every change, so a
 * policy may cache per-list lookups by identity. No I/O and no clock: the router drives it.
 */
export class WorkerRegistry {
  private readonly bySlot: (Entry | undefined)[] = [];
  private readonly byId = new Map<number, Entry>();
  private readonly byName = new Map<string, Entry>();
  private readonly byUrl = new Map<string, Entry>();
  private byModelCache: Map<string, readonly WorkerView[]> | null = null;
  private readonly freeSlots: number[] = [];
  private readonly listeners: WorkerListener[] = [];
  private nextId = 0;
  private all: readonly WorkerView[] = [];
  private active: readonly WorkerView[] = [];
  private eligibleList: readonly WorkerView[] = [];
  /** The `active` list and health epoch `eligibleList` was filtered from. */
  private eligibleOf: readonly WorkerView[] | null = null;
  private eligibleEpoch = -1;

  /** Registered workers (any state), in slot order. */
  get workers(): readonly WorkerView[] {
    return this.all;
  }

  /** Workers that take new requests (state `active`, healthy or not), in slot order. */
  get routable(): readonly WorkerView[] {
    return this.active;
  }

  /**
   * The routing candidates: routable workers that are healthy, in slot order. The `routable` list
   * itself when all are healthy; like it, an immutable snapshot whose identity changes only when
   * its members do (a health flip elsewhere keeps it), so per-list caches stay valid.
   */
  get eligible(): readonly WorkerView[] {
    if (this.eligibleOf !== this.active || this.eligibleEpoch !== healthEpoch) this.refilter();
    return this.eligibleList;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Registers a worker; names and URLs are unique (WorkerExistsError otherwise). */
  add(init: WorkerInit): WorkerView {
    const dupName = this.byName.get(init.name);
    if (dupName) throw new WorkerExistsError(dupName.view, 'name');
    const dupUrl = init.url === undefined ? undefined : this.byUrl.get(init.url);
    if (dupUrl) throw new WorkerExistsError(dupUrl.view, 'URL');
    const slot = this.takeSlot();
    const view = init as WorkerView & { id: number; index: number };
    view.id = this.nextId++;
    view.index = slot;
    (view as { healthy: boolean }).healthy = init.healthy ?? true;
    view.inFlight = 0;
    view.inFlightPromptTokens = 0;
    view.inPrefill = 0;
    const e: Entry = { view, state: 'active' };
    while (this.bySlot.length <= slot) this.bySlot.push(undefined);
    this.bySlot[slot] = e;
    this.byId.set(view.id, e);
    this.byName.set(view.name, e);
    if (view.url !== undefined) this.byUrl.set(view.url, e);
    this.changed();
    this.emit({ type: 'added', worker: view });
    return view;
  }

  /** Stops new requests to the worker; in-flight ones finish. False when unknown or already removing. */
  drain(id: number): boolean {
    const e = this.byId.get(id);
    if (!e || e.state === 'removing') return false;
    if (e.state === 'draining') return true;
    e.state = 'draining';
    this.changed();
    this.emit({ type: 'draining', worker: e.view });
    if (localInFlight(e.view) === 0) this.emit({ type: 'drained', worker: e.view });
    return true;
  }

  /** Lets a draining worker take requests again. False when unknown or being removed. */
  resume(id: number): boolean {
    const e = this.byId.get(id);
    if (!e || e.state === 'removing') return false;
    if (e.state === 'active') return true;
    e.state = 'active';
    this.changed();
    this.emit({ type: 'resumed', worker: e.view });
    return true;
  }

  /**
   * Removes the worker: at once when nothing is in flight on it ('removed'), else it drains and
   * is removed when its last request ends ('pending'; the `removed` event says when).
   * Undefined when the id is unknown.
   */
  remove(id: number): 'removed' | 'pending' | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    if (localInFlight(e.view) === 0) {
      this.free(e);
      return 'removed';
    }
    if (e.state !== 'removing') {
      const wasActive = e.state === 'active';
      e.state = 'removing';
      if (wasActive) {
        this.changed();
        this.emit({ type: 'draining', worker: e.view });
      }
    }
    return 'pending';
  }

  /** The router calls this when a request on `view` ended; it completes a pending drain or removal. */
  released(view: WorkerView): void {
    if (localInFlight(view) !== 0) return;
    // By slot, not by id: an array read where a map lookup was, for every request that leaves its worker idle.
    const e = this.bySlot[view.index];
    if (!e || e.view !== view) return;
    if (e.state === 'removing') this.free(e);
    else if (e.state === 'draining') this.emit({ type: 'drained', worker: view });
  }

  get(id: number): WorkerView | undefined {
    return this.byId.get(id)?.view;
  }

  /** The worker in slot `index`, if any. */
  atSlot(index: number): WorkerView | undefined {
    return this.bySlot[index]?.view;
  }

  /** The worker in slot `index` when it is in state `active` (`state(id)` without the id lookup). */
  activeAtSlot(index: number): WorkerView | undefined {
    const e = this.bySlot[index];
    return e?.state === 'active' ? e.view : undefined;
  }

  byWorkerName(name: string): WorkerView | undefined {
    return this.byName.get(name)?.view;
  }

  byWorkerUrl(url: string): WorkerView | undefined {
    return this.byUrl.get(url)?.view;
  }

  /** Registered workers serving `model`, in slot order. */
  byModel(model: string): readonly WorkerView[] {
    if (!this.byModelCache) {
      const m = new Map<string, WorkerView[]>();
      for (const w of this.all) {
        let l = m.get(w.model);
        if (!l) m.set(w.model, (l = []));
        l.push(w);
      }
      this.byModelCache = m;
    }
    return this.byModelCache.get(model) ?? [];
  }

  /** A worker by id (decimal string), name or URL: what an admin API gets in a path. */
  find(key: string): WorkerView | undefined {
    const byName = this.byName.get(key) ?? this.byUrl.get(key);
    if (byName) return byName.view;
    return /^\d+$/.test(key) ? this.byId.get(Number(key))?.view : undefined;
  }

  state(id: number): WorkerState | undefined {
    return this.byId.get(id)?.state;
  }

  /** Calls `fn` on every change; returns the unsubscribe function. */
  subscribe(fn: WorkerListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Entries the registry holds (slots in use, and each lookup map): for leak tests. */
  entryCounts(): { slots: number; slotArray: number; ids: number; names: number; urls: number; listeners: number } {
    return {
      slots: this.bySlot.filter((e) => e !== undefined).length,
      slotArray: this.bySlot.length,
      ids: this.byId.size,
      names: this.byName.size,
      urls: this.byUrl.size,
      listeners: this.listeners.length,
    };
  }

  private free(e: Entry): void {
    const v = e.view;
    this.bySlot[v.index] = undefined;
    this.byId.delete(v.id);
    this.byName.delete(v.name);
    if (v.url !== undefined) this.byUrl.delete(v.url);
    // Trailing empty slots are dropped so the slot array shrinks with the fleet.
    while (this.bySlot.length > 0 && this.bySlot[this.bySlot.length - 1] === undefined) this.bySlot.pop();
    for (let i = this.freeSlots.length - 1; i >= 0; i--) if (this.freeSlots[i] >= this.bySlot.length) this.freeSlots.splice(i, 1);
    if (v.index < this.bySlot.length) this.freeSlots.push(v.index);
    this.changed();
    this.emit({ type: 'removed', worker: v });
  }

  /** The lowest free slot, so slots stay dense. */
  private takeSlot(): number {
    if (this.freeSlots.length === 0) return this.bySlot.length;
    let at = 0;
    for (let i = 1; i < this.freeSlots.length; i++) if (this.freeSlots[i] < this.freeSlots[at]) at = i;
    const slot = this.freeSlots[at];
    this.freeSlots.splice(at, 1);
    return slot;
  }

  private changed(): void {
    const all: WorkerView[] = [];
    const active: WorkerView[] = [];
    for (const e of this.bySlot) {
      if (!e) continue;
      all.push(e.view);
      if (e.state === 'active') active.push(e.view);
    }
    this.all = all;
    this.active = active;
    this.byModelCache = null;
  }

  private refilter(): void {
    const r = this.active;
    this.eligibleOf = r;
    this.eligibleEpoch = healthEpoch;
    let healthy = 0;
    for (const w of r) if (w.healthy) healthy++;
    if (healthy === r.length) {
      this.eligibleList = r;
      return;
    }
    const prev = this.eligibleList;
    if (prev.length === healthy && prev !== r) {
      // Same members as before (another worker's flip moved the epoch): keep the list object.
      let i = 0;
      for (const w of r) if (w.healthy && prev[i] === w) i++;
      if (i === healthy) return;
    }
    this.eligibleList = r.filter((w) => w.healthy);
  }

  private emit(e: WorkerEvent): void {
    for (const fn of [...this.listeners]) fn(e);
  }
}
