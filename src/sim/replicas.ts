import { DEFAULTS } from '../defaults.js';
import { Router, type RouterSink } from '../routing/router.js';
import type { Outcome, Policy, PolicyEnv, ScrapedMetrics, SessionPinStore, WorkerView } from '../routing/types.js';
import { setHealthy, type WorkerInit } from '../routing/worker-registry.js';
import { createPolicyEnv, type DriverPolicyEnv, type PrefixIndexFactory } from '../routing/env.js';
import { localLoad } from '../routing/shared-state.js';
import type { Clock } from '../util/clock.js';
import { childRng, type Rng } from '../util/rng.js';
import type { Request } from '../workload/request.js';

/** What the simulator drives: one Router, or several replicas behind a traffic split. */
export interface SimRouter {
  readonly workers: readonly WorkerView[];
  readonly branches: ReadonlyMap<string, number>;
  readonly policyName: string;
  readonly inFlightTotal: number;
  readonly queuedTotal: number;
  addWorker(init: WorkerInit): WorkerView;
  submit(req: Request): void;
  /** `at`: the view the request was dispatched to, when the caller knows it (a hint; replicas ignore it). */
  onFirstToken(req: Request, at?: WorkerView): void;
  onComplete(req: Request, outcome: Outcome, firstTokenSeen: boolean, at?: WorkerView): void;
  onScrape(worker: number, m: ScrapedMetrics): void;
  nextDeadline(): number;
  onTimer(now: number): void;
  dispatchWaiting(): void;
  rejectWaiting(reason: string): void;
}

export type ReplicaSplit = 'round-robin' | 'random';
export const REPLICA_SPLITS: readonly ReplicaSplit[] = ['round-robin', 'random'];

/** `simulate --router-replicas N`: N routers, each seeing only its share of the traffic. */
export interface ReplicaOptions {
  count: number;
  split: ReplicaSplit;
  /**
   * Shared state (as `serve --state redis://`): every `syncS` seconds each replica learns the
   * others' in-flight load per worker, their queue lengths and their session pins, as they were
   * at that moment; between syncs it routes on what it last learnt plus its own changes.
   * Absent: independent replicas.
   */
  shared?: {
    syncS: number;
    /**
     * Also share routing decisions (default true, as serve --state does): at each sync every
     * replica replays the others' dispatches since the last one in its prefix indexes (the
     * approximate index's records, the precise index's speculative inserts).
     */
    routing?: boolean;
    /**
     * Seconds from a dispatch to the other replicas replaying it (serve publishes decisions at
     * once rather than at the next sync); absent = at the next sync.
     */
    routingDelayS?: number;
  };
  /** Each replica's own policy instance (its own prefix index, pins, estimates). */
  policyFor(replica: number, env: PolicyEnv): Policy;
  /**
   * Builds replica `i`'s prefix indexes (the KV-event factory with `--kv-event-lag`: every
   * replica hears every engine, each into its own store, so speculative inserts stay its own).
   */
  indexFactoryFor?: (replica: number) => PrefixIndexFactory;
}

/** A dispatch one replica shares with the others at the next sync: the worker's slot and the blocks to replay. */
interface SharedDecision {
  from: number;
  slot: number;
  blocks: ReadonlyMap<number, readonly number[]>;
  /** When the others replay it (with `routingDelayS`). */
  at: number;
}

/**
 * Pins as a shared store holds them: a replica's writes reach the others at the next sync; its own
 * writes it sees at once.
 */
class SyncedPins {
  private readonly published = new Map<string, { worker: string; atS: number }>();
  private readonly pending: Map<string, { worker: string; atS: number }>[];

  constructor(
    replicas: number,
    private readonly clock: Clock,
  ) {
    this.pending = Array.from({ length: replicas }, () => new Map<string, { worker: string; atS: number }>());
  }

  view(replica: number): SessionPinStore {
    const own = this.pending[replica];
    return {
      get: (session, idleTtlS) => {
        const p = own.get(session) ?? this.published.get(session);
        if (!p) return undefined;
        return this.clock.now() - p.atS <= idleTtlS ? p.worker : undefined;
      },
      set: (session, worker) => {
        own.set(session, { worker, atS: this.clock.now() });
      },
    };
  }

  /** Publishes every replica's writes, in replica order (a later replica's write of a session wins). */
  sync(): void {
    for (const own of this.pending) {
      for (const [k, p] of own) {
        this.published.delete(k);
        this.published.set(k, p);
      }
      own.clear();
    }
  }

  /** Drops pins idle longer than `ttlS` (insertion order is last-write order). */
  prune(ttlS: number): void {
    const now = this.clock.now();
    for (const [k, p] of this.published) {
      if (now - p.atS <= ttlS) break;
      this.published.delete(k);
    }
  }
}


/**
 * N router replicas in front of one fleet, for the simulator: each arrival goes to one replica
 * (round-robin or a seeded random split), which routes it with its own policy state; completions
 * go back to the replica that placed the request. With `shared`, a periodic sync (a virtual-clock
 * deadline, like the pull-mode queue's timeouts) gives each replica the others' load through the
 * Router's remote-load overlay, their queue lengths and their session pins.
 *
 * The fleet views it hands the simulator sum the replicas' own counts, and setting an SLO table on
 * one sets it on every replica's view of that worker.
 */
export class ReplicatedRouter implements SimRouter {
  readonly replicas: Router[];
  private readonly owner = new Map<string, number>();
  private readonly fleet: WorkerView[] = [];
  private readonly splitRng: Rng;
  private readonly pins?: SyncedPins;
  private readonly envs: DriverPolicyEnv[] = [];
  /** Dispatches not yet replayed by the other replicas, in dispatch (so delivery) order. */
  private outbox: SharedDecision[] = [];
  private next = 0;
  private nextSyncAt = 0;
  private syncs = 0;
  /** Requests each replica routed (its share of the traffic). */
  readonly submitted: number[];

  constructor(
    private readonly o: ReplicaOptions,
    clock: Clock,
    seed: number,
    sink: RouterSink,
  ) {
    if (!Number.isInteger(o.count) || o.count < 1) throw new Error(`router replicas: expected an integer >= 1, got ${o.count}`);
    this.splitRng = childRng(seed, 'replica-split');
    if (o.shared) this.pins = new SyncedPins(o.count, clock);
    this.submitted = new Array<number>(o.count).fill(0);
    const shareRouting = o.shared !== undefined && o.shared.routing !== false;
    this.replicas = Array.from({ length: o.count }, (_, i) => {
      const env = createPolicyEnv(o.indexFactoryFor?.(i));
      this.envs.push(env);
      if (this.pins) env.sessionPins = this.pins.view(i);
      if (shareRouting) env.onRouted = (req, w) => this.outbox.push({ from: i, slot: w.index, blocks: env.routedBlocks(req, w), at: clock.now() + (o.shared?.routingDelayS ?? 0) });
      return new Router({
        policy: o.policyFor(i, env),
        clock,
        // Replica 0 draws what a lone router would.
        rng: childRng(seed, i === 0 ? 'router' : `router-replica-${i}`),
        sink: {
          dispatch: (req, w) => sink.dispatch(req, w),
          reject: (req, reason, status) => {
            this.owner.delete(req.id);
            sink.reject(req, reason, status);
          },
        },
      });
    });
  }

  get workers(): readonly WorkerView[] {
    return this.fleet;
  }

  get branches(): ReadonlyMap<string, number> {
    const m = new Map<string, number>();
    for (const r of this.replicas) for (const [k, v] of r.branches) m.set(k, (m.get(k) ?? 0) + v);
    return m;
  }

  get policyName(): string {
    return this.replicas[0].policyName;
  }

  get inFlightTotal(): number {
    let n = 0;
    for (const r of this.replicas) n += r.inFlightTotal;
    return n;
  }

  get queuedTotal(): number {
    let n = 0;
    for (const r of this.replicas) n += r.queuedTotal;
    return n;
  }

  /** Sync rounds run so far (tests). */
  get syncRounds(): number {
    return this.syncs;
  }

  /** Registers the worker with every replica (same slot in each) and returns the fleet-wide view. */
  addWorker(init: WorkerInit): WorkerView {
    const views = this.replicas.map((r) => r.addWorker({ ...init }));
    const v = fleetView(views);
    this.fleet.push(v);
    return v;
  }

  submit(req: Request): void {
    const i = this.o.split === 'random' ? this.splitRng.int(this.o.count) : this.next++ % this.o.count;
    this.submitted[i]++;
    this.owner.set(req.id, i);
    this.replicas[i].submit(req);
  }

  onFirstToken(req: Request): void {
    const i = this.owner.get(req.id);
    if (i !== undefined) this.replicas[i].onFirstToken(req);
  }

  onComplete(req: Request, outcome: Outcome, firstTokenSeen: boolean): void {
    const i = this.owner.get(req.id);
    if (i === undefined) return;
    this.owner.delete(req.id);
    this.replicas[i].onComplete(req, outcome, firstTokenSeen);
  }

  onScrape(worker: number, m: ScrapedMetrics): void {
    for (const r of this.replicas) r.onScrape(worker, m);
  }

  /** The next queue timeout of any replica, or the next sync while there is load to share. */
  nextDeadline(): number {
    let t = Infinity;
    for (const r of this.replicas) t = Math.min(t, r.nextDeadline());
    if (this.o.shared && this.needsSync()) t = Math.min(t, this.nextSyncAt);
    if (this.outbox.length > 0 && this.o.shared?.routingDelayS !== undefined) t = Math.min(t, this.outbox[0].at);
    return t;
  }

  onTimer(now: number): void {
    if (this.outbox.length > 0 && this.o.shared?.routingDelayS !== undefined) this.replayDecisions(now);
    if (this.o.shared && now >= this.nextSyncAt && this.needsSync()) {
      this.sync();
      this.nextSyncAt = now + this.o.shared.syncS;
    }
    for (const r of this.replicas) if (r.nextDeadline() <= now) r.onTimer(now);
  }

  dispatchWaiting(): void {
    for (const r of this.replicas) r.dispatchWaiting();
  }

  rejectWaiting(reason: string): void {
    for (const r of this.replicas) r.rejectWaiting(reason);
  }

  /** Something to share: load or queued requests, an overlay still to clear, or pins to publish. */
  private needsSync(): boolean {
    if (this.inFlightTotal > 0 || this.queuedTotal > 0) return true;
    if (this.outbox.length > 0) return true;
    for (const r of this.replicas) for (const w of r.workers) if (w.remote) return true;
    return false;
  }

  /** Every other replica replays the shared dispatches due by `now` in its prefix indexes. */
  private replayDecisions(now: number): void {
    const q = this.outbox;
    let k = 0;
    for (; k < q.length && q[k].at <= now; k++) {
      const d = q[k];
      for (let j = 0; j < this.replicas.length; j++) {
        if (j === d.from) continue;
        const w = this.replicas[j].workers[d.slot];
        if (w) this.envs[j].recordRemote(d.blocks, w);
      }
    }
    this.outbox = k === q.length ? [] : q.slice(k);
  }

  /** One sync round: every replica learns the others' load and queue lengths as of now, and their pins. */
  private sync(): void {
    this.syncs++;
    const n = this.replicas.length;
    const slots = this.replicas[0].workers.length;
    for (let s = 0; s < slots; s++) {
      const locals = this.replicas.map((r) => localLoad(r.workers[s]));
      let inFlight = 0;
      let promptTokens = 0;
      let inPrefill = 0;
      for (const l of locals) {
        inFlight += l.inFlight;
        promptTokens += l.promptTokens;
        inPrefill += l.inPrefill;
      }
      for (let i = 0; i < n; i++) {
        const l = locals[i];
        this.replicas[i].setRemoteLoad(this.replicas[i].workers[s], { inFlight: inFlight - l.inFlight, promptTokens: promptTokens - l.promptTokens, inPrefill: inPrefill - l.inPrefill });
      }
    }
    const queued = this.queuedTotal;
    for (const r of this.replicas) r.setRemoteQueued(queued - r.queuedTotal);
    if (this.o.shared?.routingDelayS === undefined) this.replayDecisions(Infinity);
    if (this.pins) {
      this.pins.sync();
      if (this.syncs % 1024 === 0) this.pins.prune(DEFAULTS.replicas.pinRetentionS);
    }
  }
}

/**
 * One worker as the whole fleet of replicas sees it: counts are the sum of each replica's own,
 * health and engine metrics are replica 0's (every replica hears the same scrapes), and an SLO
 * table set here is set on every replica's view.
 */
function fleetView(views: WorkerView[]): WorkerView {
  const first = views[0];
  const sum = (f: (w: WorkerView) => number): number => {
    let n = 0;
    for (const w of views) n += f(w);
    return n;
  };
  return {
    get id() { return first.id; },
    get index() { return first.index; },
    name: first.name,
    url: first.url,
    gpu: first.gpu,
    model: first.model,
    profile: first.profile,
    costUsdPerHour: first.costUsdPerHour,
    kvCapacityTokens: first.kvCapacityTokens,
    blockSize: first.blockSize,
    get healthy() { return first.healthy; },
    set healthy(h: boolean) { for (const w of views) setHealthy(w, h); },
    get inFlight() { return sum((w) => localLoad(w).inFlight); },
    get inFlightPromptTokens() { return sum((w) => localLoad(w).promptTokens); },
    get inPrefill() { return sum((w) => localLoad(w).inPrefill); },
    get scraped() { return first.scraped; },
    get sloProfile() { return first.sloProfile; },
    set sloProfile(t) { for (const w of views) w.sloProfile = t; },
  };
}
