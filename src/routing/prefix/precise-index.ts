import type { Clock } from '../../util/clock.js';
import type { PrefixIndex, PrefixIndexSpec, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import { chainHash } from '../../workload/block-hash.js';
import { ApproximatePrefixIndex } from './approximate-index.js';
import { requestBlockHashes } from './request-blocks.js';
import type { PrefixIndexFactory } from '../env.js';
import type { EngineBlockHash, KvEventBatch } from './kv-event-types.js';

/**
 * The engine's key for one of its blocks: the hash as published (a number, or text for bigint
 * and bytes hashes), qualified by the data-parallel rank that published it.
 */
export type EngineKey = number | string;

/** What applying a batch did (the subscriber turns these into metrics). */
export interface ApplyResult {
  stored: number;
  removed: number;
  cleared: number;
  /** BlockStored blocks whose parent this index never saw (joined mid-stream, missed messages): not indexed. */
  orphans: number;
  /** Blocks stored under a LoRA adapter: a different cache than base-model requests hit, not indexed. */
  lora: number;
  /** BlockRemoved of a hash this index does not hold. */
  unknownRemoved: number;
}

function emptyResult(): ApplyResult {
  return { stored: 0, removed: 0, cleared: 0, orphans: 0, lora: 0, unknownRemoved: 0 };
}

/** Speculative entries kept per worker before expired ones are swept (and, past twice this, the oldest dropped). */
const SPECULATIVE_SWEEP = 65_536;

/** One engine block the index holds: the router's key for its content, and how many stores are outstanding. */
interface Held {
  key: number;
  n: number;
}

/** What the router knows of one worker's prefix cache from its events. */
class WorkerBlocks {
  /** Tokens per engine block, from its BlockStored events (0 until one arrives). */
  blockSize = 0;
  readonly byEngine = new Map<EngineKey, Held>();
  /** Router key → engine blocks holding it. */
  readonly keys = new Map<number, number>();
  /** Router key → router-clock second until which a routing decision counts it cached. */
  readonly speculative = new Map<number, number>();

  clear(): void {
    this.byEngine.clear();
    this.keys.clear();
    this.speculative.clear();
  }
}

/** Hash text that is equal for equal values however they were encoded (int widths, bigint). */
export function engineKey(h: EngineBlockHash, rank: number | null): EngineKey {
  let text: string;
  if (typeof h === 'number') {
    if (rank === null) return h;
    text = String(h);
  } else if (typeof h === 'bigint') {
    const n = Number(h);
    if (rank === null && Number.isSafeInteger(n)) return n;
    text = String(h);
  } else {
    text = 'b';
    for (const byte of h) text += byte.toString(16).padStart(2, '0');
  }
  return rank === null ? text : `${rank}|${text}`;
}

/**
 * The engines' prefix caches as their KV events describe them, per worker (keyed by the
 * worker's stable id), plus a short-lived speculative layer of routing decisions.
 *
 * Engine hashes and router hashes are decoupled (as llm-d's precise index does): a BlockStored
 * carries the blocks' token ids and the parent block's engine hash; the router keys each block
 * by its own chained hash of those token ids (`chainHash` over `blockSize` tokens, seeded by the
 * parent's router key, 0 for the first block) — the same hash it computes for a request's prompt
 * blocks — and keeps engine hash → router key for later BlockStored parents and BlockRemoved.
 * Engine hashes are therefore never compared with anything the router computes, so the engine's
 * hash algorithm, seed (PYTHONHASHSEED) and encoding (int or bytes) do not matter.
 *
 * No I/O: a driver feeds it (serve's ZMQ subscriber, the simulator's lagged event feed).
 */
export class KvBlockStore {
  private readonly workers = new Map<number, WorkerBlocks>();
  /** Events waiting for their delivery time (the simulator's `--kv-event-lag`), in time order. */
  private readonly pending: { at: number; apply: () => void }[] = [];
  private pendingHead = 0;

  /** A worker's stream is (again) live: start from an empty index. */
  open(worker: number): void {
    const w = this.workers.get(worker);
    if (w) w.clear();
    else this.workers.set(worker, new WorkerBlocks());
  }

  /** The stream is lost (or the worker left): its index goes, routing falls back to approximate. */
  drop(worker: number): void {
    this.workers.delete(worker);
  }

  isLive(worker: number): boolean {
    return this.workers.has(worker);
  }

  /** Tokens per block of a live worker (0 while unknown), undefined when it has no live stream. */
  liveBlockSize(worker: number): number | undefined {
    return this.workers.get(worker)?.blockSize;
  }

  /** Engine blocks indexed for the worker (distinct router keys). */
  blockCount(worker: number): number {
    return this.workers.get(worker)?.keys.size ?? 0;
  }

  speculativeCount(worker: number): number {
    return this.workers.get(worker)?.speculative.size ?? 0;
  }

  /** Workers with a live stream. */
  workerCount(): number {
    return this.workers.size;
  }

  /** Applies one decoded message from `worker`'s stream (a worker with no open stream is ignored). */
  applyBatch(worker: number, batch: KvEventBatch): ApplyResult {
    const res = emptyResult();
    const w = this.workers.get(worker);
    if (!w) return res;
    const rank = batch.dataParallelRank;
    for (const ev of batch.events) {
      if (ev.type === 'BlockStored') {
        const n = ev.blockHashes.length;
        if (ev.loraId !== null) {
          res.lora += n;
          continue;
        }
        let parentKey = 0;
        if (ev.parentBlockHash !== null) {
          const p = w.byEngine.get(engineKey(ev.parentBlockHash, rank));
          if (!p) {
            res.orphans += n;
            continue;
          }
          parentKey = p.key;
        }
        const bs = ev.blockSize;
        const engine: EngineKey[] = new Array<EngineKey>(n);
        const keys: number[] = new Array<number>(n);
        for (let i = 0; i < n; i++) {
          parentKey = chainHash(parentKey, ev.tokenIds, i * bs, (i + 1) * bs);
          keys[i] = parentKey;
          engine[i] = engineKey(ev.blockHashes[i], rank);
        }
        res.stored += this.storeIn(w, engine, keys, bs);
      } else if (ev.type === 'BlockRemoved') {
        for (const h of ev.blockHashes) {
          if (this.removeIn(w, engineKey(h, rank))) res.removed++;
          else res.unknownRemoved++;
        }
      } else {
        w.clear();
        res.cleared++;
      }
    }
    return res;
  }

  /**
   * Blocks stored whose router keys the driver already knows (the simulator: its engines hash
   * prompts with the router's own function, so engine hash = router key). Returns blocks stored.
   */
  stored(worker: number, engine: readonly EngineKey[], keys: readonly number[], blockSize: number): number {
    const w = this.workers.get(worker);
    return w ? this.storeIn(w, engine, keys, blockSize) : 0;
  }

  removed(worker: number, engine: readonly EngineKey[]): void {
    const w = this.workers.get(worker);
    if (w) for (const h of engine) this.removeIn(w, h);
  }

  cleared(worker: number): void {
    this.workers.get(worker)?.clear();
  }

  /** Queues `apply` for delivery at router time `at` (non-decreasing across calls). */
  later(at: number, apply: () => void): void {
    this.pending.push({ at, apply });
  }

  /** Delivers every queued event due by `now`. */
  advanceTo(now: number): void {
    const q = this.pending;
    let i = this.pendingHead;
    while (i < q.length && q[i].at <= now) q[i++].apply();
    if (i === q.length) {
      q.length = 0;
      this.pendingHead = 0;
    } else if (i > 4096 && i * 2 > q.length) {
      q.splice(0, i);
      this.pendingHead = 0;
    } else {
      this.pendingHead = i;
    }
  }

  /** Routing time: `keys` count as cached on the worker until `until`, unless events say otherwise first. */
  speculate(worker: number, keys: readonly number[], until: number, now: number): void {
    const w = this.workers.get(worker);
    if (!w) return;
    const spec = w.speculative;
    for (const k of keys) {
      if (w.keys.has(k)) continue;
      spec.delete(k);
      spec.set(k, until);
    }
    if (spec.size > SPECULATIVE_SWEEP) {
      for (const [k, t] of spec) if (t <= now) spec.delete(k);
      // Insertion order is refresh order: the oldest decisions go first.
      for (const k of spec.keys()) {
        if (spec.size <= SPECULATIVE_SWEEP) break;
        spec.delete(k);
      }
    }
  }

  /** Leading `keys` the worker holds (stored, or speculatively until it expires) at `now`. */
  matchLength(worker: number, keys: readonly number[], now: number): number {
    const w = this.workers.get(worker);
    if (!w) return 0;
    let i = 0;
    for (; i < keys.length; i++) {
      const k = keys[i];
      if (w.keys.has(k)) continue;
      const until = w.speculative.get(k);
      if (until === undefined) break;
      if (until <= now) {
        w.speculative.delete(k);
        break;
      }
    }
    return i;
  }

  private storeIn(w: WorkerBlocks, engine: readonly EngineKey[], keys: readonly number[], blockSize: number): number {
    w.blockSize = blockSize;
    for (let i = 0; i < engine.length; i++) {
      const held = w.byEngine.get(engine[i]);
      if (held) {
        // vLLM may cache the same content in two blocks (two requests computed it at once): each is reported, and removed, on its own.
        held.n++;
        continue;
      }
      const k = keys[i];
      w.byEngine.set(engine[i], { key: k, n: 1 });
      w.keys.set(k, (w.keys.get(k) ?? 0) + 1);
      // Confirmed: the speculation has done its job.
      w.speculative.delete(k);
    }
    return engine.length;
  }

  private removeIn(w: WorkerBlocks, h: EngineKey): boolean {
    const held = w.byEngine.get(h);
    if (!held) return false;
    if (--held.n > 0) return true;
    w.byEngine.delete(h);
    const left = (w.keys.get(held.key) ?? 1) - 1;
    if (left > 0) w.keys.set(held.key, left);
    else {
      w.keys.delete(held.key);
      w.speculative.delete(held.key);
    }
    return true;
  }
}

/**
 * The precise prefix index (llm-d's precise-prefix-cache producer, Dynamo's KV-event indexer):
 * a worker with a live KV event stream is matched against what its engine reported cached, plus
 * the blocks of requests routed to it in the last `speculativeTtlS` seconds that no event has
 * confirmed yet (llm-d's speculative indexing, Dynamo's predicted-TTL side index: siblings
 * arriving before the first event still find the prefix). A worker without a live stream
 * (none configured, or lost) is matched on the approximate index, which records every routing
 * decision so it is warm when a stream drops.
 *
 * Matches count blocks of `spec.blockSize` tokens, as every PrefixIndex does; a worker's
 * engine blocks (its own size, learnt from its events) are converted by tokens.
 */
export class PrecisePrefixIndex implements PrefixIndex {
  readonly fallback: ApproximatePrefixIndex;
  private readonly ttlS: number;
  /** Worker id by slot, for `size`/`workerCount` (the store is keyed by stable id). */
  private readonly idBySlot: (number | undefined)[] = [];

  constructor(
    readonly spec: PrefixIndexSpec,
    readonly store: KvBlockStore,
    private readonly clock: Clock,
  ) {
    this.fallback = new ApproximatePrefixIndex(spec);
    this.ttlS = spec.speculativeTtlS ?? 0;
  }

  blocks(req: RouteRequest): readonly number[] {
    return requestBlockHashes(req, this.spec.blockSize);
  }

  match(req: RouteRequest, candidates: readonly WorkerView[], out: number[] | Float64Array): number {
    const now = this.clock.now();
    this.store.advanceTo(now);
    const own = this.blocks(req);
    const bs = this.spec.blockSize;
    let found = 0;
    for (let c = 0; c < candidates.length; c++) {
      const w = candidates[c];
      this.idBySlot[w.index] = w.id;
      const engineBs = this.store.liveBlockSize(w.id);
      let m: number;
      if (engineBs === undefined) {
        m = 0;
        while (m < own.length && this.fallback.index.has(w.index, own[m])) m++;
      } else if (engineBs === 0 || engineBs === bs) {
        m = this.store.matchLength(w.id, own, now);
      } else {
        const matched = this.store.matchLength(w.id, requestBlockHashes(req, engineBs), now);
        m = Math.min(own.length, Math.floor((matched * engineBs) / bs));
      }
      out[c] = m;
      if (m > 0) found++;
    }
    return found;
  }

  recordRouted(req: RouteRequest, worker: WorkerView): void {
    this.idBySlot[worker.index] = worker.id;
    this.fallback.recordRouted(req, worker);
    const engineBs = this.store.liveBlockSize(worker.id);
    if (engineBs === undefined || this.ttlS <= 0) return;
    const now = this.clock.now();
    const keys = requestBlockHashes(req, engineBs === 0 ? this.spec.blockSize : engineBs);
    this.store.speculate(worker.id, keys, now + this.ttlS, now);
  }

  routedBlocks(req: RouteRequest, worker: WorkerView, out: Map<number, readonly number[]>): void {
    this.fallback.routedBlocks(req, worker, out);
    const engineBs = this.store.liveBlockSize(worker.id);
    if (engineBs !== undefined && engineBs > 0 && !out.has(engineBs)) out.set(engineBs, requestBlockHashes(req, engineBs));
  }

  /**
   * Another replica's decision: speculative here too (Dynamo's replica sync of routing-time
   * state), so a sibling reaching this replica before the engine's events finds the prefix where
   * the other replica sent it instead of being placed on a second worker.
   */
  recordRemote(blocks: ReadonlyMap<number, readonly number[]>, worker: WorkerView): void {
    this.idBySlot[worker.index] = worker.id;
    this.fallback.recordRemote(blocks, worker);
    const engineBs = this.store.liveBlockSize(worker.id);
    if (engineBs === undefined || this.ttlS <= 0) return;
    const keys = blocks.get(engineBs === 0 ? this.spec.blockSize : engineBs);
    if (!keys) return;
    const now = this.clock.now();
    this.store.speculate(worker.id, keys, now + this.ttlS, now);
  }

  removeWorker(worker: WorkerView): void {
    this.fallback.removeWorker(worker);
    this.store.drop(worker.id);
    if (worker.index < this.idBySlot.length) this.idBySlot[worker.index] = undefined;
  }

  capacity(worker: WorkerView): number {
    return this.fallback.capacity(worker);
  }

  size(index: number): number {
    const id = this.idBySlot[index];
    return this.fallback.size(index) + (id === undefined ? 0 : this.store.blockCount(id) + this.store.speculativeCount(id));
  }

  workerCount(): number {
    let n = 0;
    for (let s = 0; s < this.idBySlot.length; s++) {
      const id = this.idBySlot[s];
      if (this.fallback.size(s) > 0 || (id !== undefined && this.store.isLive(id))) n++;
    }
    return n;
  }
}

/**
 * The env factory of a driver that has KV events: indexes asked for with `source: 'kv-events'`
 * are precise over `store`, every other one stays approximate (so policies that never asked
 * route exactly as before).
 */
export function kvEventsIndexFactory(store: KvBlockStore, clock: Clock, onPrecise?: () => void): PrefixIndexFactory {
  return (spec) => {
    if (spec.source !== 'kv-events') return new ApproximatePrefixIndex(spec);
    onPrecise?.();
    return new PrecisePrefixIndex(spec, store, clock);
  };
}
