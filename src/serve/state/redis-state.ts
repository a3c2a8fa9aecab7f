import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Router } from '../../routing/router.js';
import type { SessionPinStore } from '../../routing/types.js';
import { localLoad, NO_REMOTE_LOAD, workerKey, type RemoteLoad } from '../../routing/shared-state.js';
import type { DriverPolicyEnv } from '../../routing/env.js';
import type { RouteRequest } from '../../workload/request.js';
import type { WorkerView } from '../../routing/types.js';
import { decodeRouted, encodeRouted, type RoutedDecision } from './routed-codec.js';

export interface RedisStateOptions {
  /** redis:// or rediss:// URL (checked by the CLI). */
  url: string;
  /** Prefix of every key and channel, so several router fleets can share one Redis. */
  prefix: string;
  /** This replica's name among the others (unique per process). */
  replicaId: string;
  /** Period of the write-then-read round trip (ms). */
  syncIntervalMs: number;
  /** A replica's load entry expires this long after its last write (ms). */
  entryTtlMs: number;
  /** Delay between reconnect attempts while Redis is unreachable (ms). */
  reconnectMs: number;
  /** Shared pins idle longer than this are dropped (ms). */
  pinRetentionMs: number;
  /**
   * Share routing decisions (default true): every dispatch's prompt blocks are published, and
   * the other replicas replay them in their prefix indexes (approximate records, precise
   * speculative inserts).
   */
  shareRouting?: boolean;
  /** Operator notes (connection lost / back); default stderr. */
  note: (line: string) => void;
  /** Wall clock in ms (injected for tests); default Date.now. */
  nowMs?: () => number;
}

/** A default replica id: host, pid and a random suffix (a restarted process is a new replica). */
export function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The field of a replica's load hash holding its pull-mode queue length (URLs never start with '#'). */
const QUEUED_FIELD = '#queued';

/**
 * Reads every other live replica's load hash in one round trip; drops members whose hash expired
 * (a replica that died without saying goodbye). Returns [id, [field, value, ...], ...].
 */
const READ_OTHERS = `
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  if id ~= ARGV[2] then
    local h = redis.call('HGETALL', ARGV[1] .. id)
    if #h == 0 then redis.call('SREM', KEYS[1], id) else out[#out + 1] = id; out[#out + 1] = h end
  end
end
return out`;

type PinEntry = { worker: string; atMs: number };

/** Decisions published in one message at most (a busier event-loop turn sends several). */
const ROUTED_BATCH = 256;

/**
 * `serve --state redis://...`: what router replicas share (src/routing/shared-state.ts says what
 * and why), through one Redis.
 *
 * Keys (all under `prefix`):
 * - `load:<replica>`: hash, worker URL → "inFlight promptTokens inPrefill" of this replica's own
 *   requests, plus `#queued`; PEXPIREd on every sync, so a crashed replica's load is gone after
 *   `entryTtlMs`; deleted on a clean stop.
 * - `replicas`: set of replica ids (members whose hash expired are dropped by the readers).
 * - `pins`: hash, session → "worker atMs"; `pins` channel: each new pin, so the others' mirrors
 *   follow within a network round trip.
 *
 * One timer, every `syncIntervalMs`: a single pipeline writes what changed (HSET/HDEL of this
 * replica's workers, new pins + PUBLISH, PEXPIRE, SADD) and reads the others' hashes (one Lua
 * call); the sums become the Router's remote-load overlay. Routing never waits for Redis: it
 * reads the overlay and the pin mirror, both in memory.
 *
 * Fail open: while Redis is unreachable the overlay is cleared (the replica routes on its own
 * state), `/readiness` says so and `router_state_connected` is 0; ioredis reconnects every
 * `reconnectMs`, and on reconnect this replica rewrites all its entries, reloads the pins and
 * reads the others again (re-sync).
 */
export class RedisReplicaState implements SessionPinStore {
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private router?: Router;
  private timer?: NodeJS.Timeout;
  private connected = false;
  private syncing = false;
  private stopped = false;
  private ticks = 0;
  /** Last value written per hash field (worker URL, `#queued`): only changes are sent. */
  private readonly written = new Map<string, string>();
  private readonly pins = new Map<string, PinEntry>();
  private readonly pendingPins = new Map<string, PinEntry>();
  private readonly nowMs: () => number;
  private lastError = '';
  private downSinceMs: number;
  /** Other replicas seen by the last read. */
  otherReplicas = 0;
  /** Sync round trips completed, failed; reconnects after a loss. */
  syncs = 0;
  failures = 0;
  resyncs = 0;
  private metrics?: { failures: Counter; syncs: Counter; routed: Counter };
  /** The policy envs whose decisions are shared, in the order serve built them (the wire's pool number). */
  private readonly envs: DriverPolicyEnv[] = [];
  private outbox: RoutedDecision[] = [];
  private flushQueued = false;
  /** Routing decisions published, replayed from other replicas, and received messages that could not be decoded. */
  routedSent = 0;
  routedReplayed = 0;
  routedMalformed = 0;

  constructor(readonly o: RedisStateOptions) {
    this.nowMs = o.nowMs ?? Date.now;
    this.downSinceMs = this.nowMs();
    const opts = {
      lazyConnect: true,
      // Commands fail at once while disconnected: routing goes on, the next sync retries.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(200, o.reconnectMs * 2),
      retryStrategy: () => o.reconnectMs,
    };
    this.cmd = new Redis(o.url, opts);
    this.sub = new Redis(o.url, { ...opts, enableOfflineQueue: true, autoResubscribe: true });
    this.cmd.on('error', (err: Error) => (this.lastError = err.message));
    this.sub.on('error', () => undefined);
    this.cmd.on('ready', () => void this.up());
    this.cmd.on('close', () => this.down());
    this.sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      if (ch.toString() === this.key('routed')) this.onRoutedMessage(msg);
      else this.onPinMessage(msg.toString());
    });
  }

  /**
   * Shares the dispatches of a policy (through its env; call once per policy instance, in the
   * same order on every replica) with the other replicas, and replays theirs into it.
   */
  shareRouting(env: DriverPolicyEnv): void {
    if (this.o.shareRouting === false) return;
    const pool = this.envs.length;
    this.envs.push(env);
    env.onRouted = (req, w) => this.queueDecision(env, pool, req, w);
  }

  /** Whether any shared policy keeps a prefix index (policies without one have no decisions to share). */
  private get sharesRouting(): boolean {
    return this.envs.some((e) => e.indexes.length > 0);
  }

  private queueDecision(env: DriverPolicyEnv, pool: number, req: RouteRequest, w: WorkerView): void {
    // Fail open: while Redis is away decisions are simply not shared (they are speculative).
    if (!this.connected || this.stopped) return;
    const blocks = env.routedBlocks(req, w);
    if (blocks.size === 0) return;
    this.outbox.push({ pool, worker: workerKey(w), blocks });
    if (this.outbox.length >= ROUTED_BATCH) this.flushRouted();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      // One message per event-loop turn: a burst of dispatches costs one publish.
      setImmediate(() => this.flushRouted());
    }
  }

  private flushRouted(): void {
    this.flushQueued = false;
    const decisions = this.outbox;
    if (decisions.length === 0) return;
    this.outbox = [];
    if (!this.connected || this.stopped) return;
    this.routedSent += decisions.length;
    this.metrics?.routed.inc({ direction: 'sent' }, decisions.length);
    this.cmd.publish(this.key('routed'), encodeRouted({ replica: this.o.replicaId, decisions })).catch((err: unknown) => {
      this.lastError = err instanceof Error ? err.message : String(err);
    });
  }

  private onRoutedMessage(msg: Buffer): void {
    const r = this.router;
    if (!r || this.stopped) return;
    const batch = decodeRouted(msg);
    if (!batch) {
      this.routedMalformed++;
      this.metrics?.routed.inc({ direction: 'malformed' });
      return;
    }
    if (batch.replica === this.o.replicaId) return;
    const byKey = new Map<string, WorkerView>();
    for (const w of r.workers) byKey.set(workerKey(w), w);
    let n = 0;
    for (const d of batch.decisions) {
      const env = this.envs[d.pool];
      const w = byKey.get(d.worker);
      if (!env || !w) continue;
      env.recordRemote(d.blocks, w);
      n++;
    }
    this.routedReplayed += n;
    if (n > 0) this.metrics?.routed.inc({ direction: 'replayed' }, n);
  }

  private key(name: string): string {
    return `${this.o.prefix}${name}`;
  }

  private get loadKey(): string {
    return this.key(`load:${this.o.replicaId}`);
  }

  /**
   * Starts syncing `router`'s workers and registers the metrics. Never fails on an unreachable
   * Redis: the replica starts on local state and connects when Redis answers.
   */
  start(router: Router, registry?: Registry): void {
    this.router = router;
    if (registry) this.registerMetrics(registry);
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().then(
      () => this.sub.subscribe(this.key('pins'), ...(this.sharesRouting ? [this.key('routed')] : [])),
      () => undefined,
    ).catch(() => undefined);
    this.timer = setInterval(() => void this.sync(), this.o.syncIntervalMs);
    this.timer.unref();
    if (!this.connected) this.o.note(`state: connecting to ${redact(this.o.url)} as replica ${this.o.replicaId}; routing on local state until it answers`);
  }

  private registerMetrics(registry: Registry): void {
    const connected = (): boolean => this.connected;
    const others = (): number => this.otherReplicas;
    const workers = (): readonly { name: string; remote?: RemoteLoad }[] => this.router?.workers ?? [];
    new Gauge({ name: 'router_state_connected', help: '1 while the shared state store (--state) is reachable; 0 = this replica routes on local state only (fail open)', registers: [registry], collect() { this.set(connected() ? 1 : 0); } });
    new Gauge({ name: 'router_state_replicas', help: 'Other router replicas seen in the shared state at the last sync', registers: [registry], collect() { this.set(connected() ? others() : 0); } });
    new Gauge({
      name: 'router_state_remote_in_flight',
      help: 'Requests the other router replicas have in flight on the worker, as last synced (routing adds them to this replica\'s own)',
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of workers()) this.set({ worker: w.name }, w.remote?.inFlight ?? 0);
      },
    });
    this.metrics = {
      syncs: new Counter({ name: 'router_state_syncs_total', help: 'Shared-state sync round trips completed (write own load, read the others)', registers: [registry] }),
      failures: new Counter({ name: 'router_state_sync_failures_total', help: 'Shared-state sync round trips that failed (Redis unreachable or erroring)', registers: [registry] }),
      routed: new Counter({ name: 'router_state_routing_decisions_total', help: 'Routing decisions shared with the other replicas\' prefix indexes: sent (published), replayed (received and applied), malformed (messages skipped)', labelNames: ['direction'], registers: [registry] }),
    };
  }

  /** What `/readiness` reports: a replica on local state is still ready (fail open), and says so. */
  readiness(): Record<string, unknown> {
    return {
      backend: 'redis',
      url: redact(this.o.url),
      replica: this.o.replicaId,
      connected: this.connected,
      mode: this.connected ? 'shared' : 'local',
      other_replicas: this.connected ? this.otherReplicas : 0,
      ...(this.sharesRouting ? { routing_decisions: { sent: this.routedSent, replayed: this.routedReplayed, malformed: this.routedMalformed } } : {}),
      ...(this.connected ? {} : { disconnected_s: Math.round((this.nowMs() - this.downSinceMs) / 100) / 10, last_error: this.lastError || undefined }),
    };
  }

  get isConnected(): boolean {
    return this.connected;
  }

  // ---- SessionPinStore (read by session-affinity on the request path: memory only) ----------

  get(session: string, idleTtlS: number): string | undefined {
    const p = this.pins.get(session);
    if (!p) return undefined;
    return this.nowMs() - p.atMs <= idleTtlS * 1000 ? p.worker : undefined;
  }

  set(session: string, worker: string): void {
    const e = { worker, atMs: this.nowMs() };
    this.pins.delete(session);
    this.pins.set(session, e);
    this.pendingPins.set(session, e);
  }

  private onPinMessage(msg: string): void {
    // "<replica>\t<atMs>\t<worker>\t<session>" (the session last: it may hold tabs).
    const a = msg.indexOf('\t');
    const b = msg.indexOf('\t', a + 1);
    const c = msg.indexOf('\t', b + 1);
    if (a < 0 || b < 0 || c < 0 || msg.slice(0, a) === this.o.replicaId) return;
    this.mergePin(msg.slice(c + 1), msg.slice(b + 1, c), Number(msg.slice(a + 1, b)));
  }

  /** A pin heard from another replica (or reloaded): the newest write of a session wins. */
  private mergePin(session: string, worker: string, atMs: number): void {
    if (!Number.isFinite(atMs)) return;
    const cur = this.pins.get(session);
    if (cur && cur.atMs > atMs) return;
    this.pins.delete(session);
    this.pins.set(session, { worker, atMs });
  }

  // ---- connection --------------------------------------------------------------------------

  private async up(): Promise<void> {
    if (this.stopped) return;
    const wasDown = this.syncs > 0 || this.resyncs > 0;
    // Re-sync: everything of ours is written again (Redis may have restarted empty), pins reloaded.
    this.written.clear();
    try {
      await this.cmd.del(this.loadKey);
      const all = await this.cmd.hgetall(this.key('pins'));
      const oldest = this.nowMs() - this.o.pinRetentionMs;
      const stale: string[] = [];
      for (const [session, v] of Object.entries(all)) {
        const sp = v.lastIndexOf(' ');
        const atMs = Number(v.slice(sp + 1));
        if (!(atMs >= oldest)) stale.push(session);
        else this.mergePin(session, v.slice(0, sp), atMs);
      }
      // Pins this replica made while Redis was away are still pending: the next sync publishes them.
      if (stale.length > 0) await this.cmd.hdel(this.key('pins'), ...stale);
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    this.connected = true;
    if (wasDown) this.resyncs++;
    this.o.note(`state: ${wasDown ? 're-synced with' : 'sharing state through'} ${redact(this.o.url)} as replica ${this.o.replicaId}`);
    await this.sync();
  }

  private down(): void {
    if (!this.connected || this.stopped) return;
    this.connected = false;
    this.downSinceMs = this.nowMs();
    this.otherReplicas = 0;
    this.clearOverlay();
    this.o.note(`state: Redis ${redact(this.o.url)} unreachable${this.lastError ? ` (${this.lastError})` : ''}; routing on local state until it returns`);
  }

  private clearOverlay(): void {
    const r = this.router;
    if (!r) return;
    for (const w of r.workers) r.setRemoteLoad(w, NO_REMOTE_LOAD);
    r.setRemoteQueued(0);
  }

  // ---- the sync round trip -----------------------------------------------------------------

  /** Writes this replica's changes and reads the others', in one pipeline; one at a time. */
  async sync(): Promise<void> {
    const r = this.router;
    if (!r || !this.connected || this.syncing || this.stopped) return;
    this.syncing = true;
    // Every second, everything is rewritten: an entry lost to an eviction or a long pause comes back.
    if (++this.ticks % Math.max(1, Math.round(1000 / this.o.syncIntervalMs)) === 0) this.written.clear();
    const p = this.cmd.pipeline();
    const writes = new Map<string, string>();
    const present = new Set<string>();
    for (const w of r.workers) {
      const k = workerKey(w);
      present.add(k);
      const l = localLoad(w);
      const v = `${l.inFlight} ${l.promptTokens} ${l.inPrefill}`;
      if (this.written.get(k) !== v) writes.set(k, v);
    }
    const q = String(r.queuedTotal);
    if (this.written.get(QUEUED_FIELD) !== q) writes.set(QUEUED_FIELD, q);
    const gone = [...this.written.keys()].filter((k) => k !== QUEUED_FIELD && !present.has(k));
    if (writes.size > 0) p.hset(this.loadKey, Object.fromEntries(writes));
    if (gone.length > 0) p.hdel(this.loadKey, ...gone);
    p.pexpire(this.loadKey, this.o.entryTtlMs);
    p.sadd(this.key('replicas'), this.o.replicaId);
    const pins = [...this.pendingPins];
    this.pendingPins.clear();
    if (pins.length > 0) {
      p.hset(this.key('pins'), Object.fromEntries(pins.map(([s, e]) => [s, `${e.worker} ${e.atMs}`])));
      for (const [s, e] of pins) p.publish(this.key('pins'), `${this.o.replicaId}\t${e.atMs}\t${e.worker}\t${s}`);
    }
    p.eval(READ_OTHERS, 1, this.key('replicas'), this.key('load:'), this.o.replicaId);
    try {
      const res = await p.exec();
      const failed = res?.find(([err]) => err !== null)?.[0];
      if (!res || failed) throw failed ?? new Error('pipeline discarded');
      for (const [k, v] of writes) this.written.set(k, v);
      for (const k of gone) this.written.delete(k);
      if (this.connected) this.apply(res[res.length - 1][1]);
      this.syncs++;
      this.metrics?.syncs.inc();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.failures++;
      this.metrics?.failures.inc();
      // Sent again at the next sync (a pin already written is simply written twice).
      for (const [s, e] of pins) if (!this.pendingPins.has(s)) this.pendingPins.set(s, e);
      this.written.clear();
    } finally {
      this.syncing = false;
    }
    this.prunePins();
  }

  /** Sums the other replicas' hashes into the Router's overlay (workers nobody else loads: zero). */
  private apply(raw: unknown): void {
    const r = this.router;
    if (!r || !Array.isArray(raw)) return;
    const sums = new Map<string, { inFlight: number; promptTokens: number; inPrefill: number }>();
    let queued = 0;
    let replicas = 0;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const h: unknown = raw[i + 1];
      if (!Array.isArray(h)) continue;
      replicas++;
      for (let j = 0; j + 1 < h.length; j += 2) {
        const field = String(h[j]);
        const value = String(h[j + 1]);
        if (field === QUEUED_FIELD) {
          queued += Number(value) || 0;
          continue;
        }
        const [a, b, c] = value.split(' ').map(Number);
        if (![a, b, c].every((x) => Number.isFinite(x) && x >= 0)) continue;
        const s = sums.get(field) ?? { inFlight: 0, promptTokens: 0, inPrefill: 0 };
        s.inFlight += a;
        s.promptTokens += b;
        s.inPrefill += c;
        sums.set(field, s);
      }
    }
    this.otherReplicas = replicas;
    for (const w of r.workers) r.setRemoteLoad(w, sums.get(workerKey(w)) ?? NO_REMOTE_LOAD);
    r.setRemoteQueued(queued);
  }

  private prunePins(): void {
    const oldest = this.nowMs() - this.o.pinRetentionMs;
    for (const [k, p] of this.pins) {
      if (p.atMs >= oldest) break;
      this.pins.delete(k);
    }
  }

  /** Stops syncing; a clean stop removes this replica's load at once (the others stop counting it). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    // Let a sync in flight finish so its writes do not land after the removal.
    for (let i = 0; i < 50 && this.syncing; i++) await new Promise((res) => setTimeout(res, 10));
    this.stopped = true;
    if (this.connected) {
      await Promise.race([
        this.cmd.multi().del(this.loadKey).srem(this.key('replicas'), this.o.replicaId).exec().catch(() => undefined),
        new Promise((res) => setTimeout(res, 500).unref()),
      ]);
    }
    this.connected = false;
    this.sub.disconnect();
    this.cmd.disconnect();
  }
}

/** A URL fit for logs: the password replaced. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
