import { Subscriber } from 'zeromq';
import { Counter, Gauge, type Registry } from 'prom-client';
import { KvBlockStore, kvEventsIndexFactory } from '../../routing/prefix/precise-index.js';
import type { PrefixIndexFactory } from '../../routing/env.js';
import { decodeKvEventMessage } from './decode.js';
import { WallClock } from '../wall-clock.js';
import { DEFAULTS } from '../../defaults.js';

/** The worker a subscription feeds: its stable id (the store's key), name (labels) and endpoint. */
export interface KvEventSource {
  readonly id: number;
  readonly name: string;
  readonly endpoint: string;
}

/** One worker's subscription, as `/readiness` and tests see it. */
export interface KvEventSubscriptionStatus {
  worker: string;
  endpoint: string;
  /** Connected, and its precise index in use. */
  live: boolean;
  messages: number;
  malformed: number;
  /** Messages lost, from gaps in the sequence numbers. */
  missed: number;
}

const EVENT_TYPES = ['stored', 'removed', 'cleared', 'orphan', 'lora', 'unknown'] as const;

class Subscription {
  readonly sock: Subscriber;
  live = false;
  messages = 0;
  malformed = 0;
  missed = 0;
  lastSeq = -1;
  closed = false;
  loop: Promise<void> = Promise.resolve();

  constructor(readonly src: KvEventSource) {
    const hb = DEFAULTS.serve.kvEvents;
    this.sock = new Subscriber({
      linger: 0,
      // ZMTP heartbeats: a publisher host that vanishes without closing the connection is noticed.
      heartbeatInterval: hb.heartbeatIntervalMs,
      heartbeatTimeout: hb.heartbeatTimeoutMs,
      reconnectInterval: hb.reconnectMs,
      reconnectMaxInterval: hb.reconnectMaxMs,
    });
  }
}

/**
 * serve's side of vLLM KV events: one ZMQ SUB socket per worker that has a `kv_events=`
 * endpoint, connected to the engine's PUB socket (the engine binds, subscribers connect), all
 * topics. Each message is decoded (decode.ts) and applied to the shared `KvBlockStore` the
 * precise-prefix scorer reads. A connection makes the worker's precise index live (empty: vLLM
 * reports only new blocks); a disconnection (the engine went away, or heartbeats stopped) drops
 * it, and the scorer routes that worker on the approximate index until ZMQ reconnects.
 * A malformed message is counted and skipped; a sequence gap is counted; a sequence number that
 * goes back means the publisher restarted, so the worker's index starts again from empty.
 */
export class KvEventSubscriptions {
  readonly store = new KvBlockStore();
  /** The precise index's clock (only differences matter: the speculative TTL). */
  readonly clock = new WallClock();
  private readonly subs = new Map<number, Subscription>();
  /** Set when the policy asked for a precise index: without one nothing reads the events, so nothing subscribes. */
  private wanted = false;
  private readonly messagesTotal = new Counter({ name: 'router_kv_events_messages_total', help: 'KV event messages received and applied, by worker', labelNames: ['worker'], registers: [] });
  private readonly malformedTotal = new Counter({ name: 'router_kv_events_malformed_total', help: 'KV event messages that could not be decoded (skipped), by worker', labelNames: ['worker'], registers: [] });
  private readonly missedTotal = new Counter({ name: 'router_kv_events_missed_total', help: 'KV event messages lost, from gaps in the publisher sequence numbers, by worker', labelNames: ['worker'], registers: [] });
  private readonly eventsTotal = new Counter({ name: 'router_kv_events_total', help: 'KV events applied, by worker and type (stored/removed blocks, cleared, orphan/lora blocks not indexed, unknown event types skipped)', labelNames: ['worker', 'type'], registers: [] });
  private readonly up = new Gauge({ name: 'router_kv_events_subscribed', help: '1 while the worker\'s KV event stream is connected and its precise index in use, else 0 (approximate fallback)', labelNames: ['worker'], registers: [] });
  private readonly blocks: Gauge;

  constructor(private readonly note: (line: string) => void = (l) => process.stderr.write(`router serve: ${l}\n`)) {
    const subs = this.subs;
    const store = this.store;
    this.blocks = new Gauge({
      name: 'router_kv_events_indexed_blocks',
      help: 'Engine blocks the precise prefix index holds for the worker',
      labelNames: ['worker'],
      registers: [],
      collect() {
        this.reset();
        for (const s of subs.values()) this.set({ worker: s.src.name }, store.blockCount(s.src.id));
      },
    });
  }

  /** The env factory for the policy: indexes asked for with `source: 'kv-events'` read this store. */
  indexFactory(): PrefixIndexFactory {
    return kvEventsIndexFactory(this.store, this.clock, () => (this.wanted = true));
  }

  /** Whether the policy reads KV events (a precise-prefix scorer). */
  get used(): boolean {
    return this.wanted;
  }

  /** Exposes the subscription metrics on serve's `/metrics`. */
  register(registry: Registry): void {
    for (const m of [this.messagesTotal, this.malformedTotal, this.missedTotal, this.eventsTotal, this.up, this.blocks]) registry.registerMetric(m);
  }

  /** Subscribes to a worker's stream (connecting in the background; ZMQ retries until the engine is up). */
  add(src: KvEventSource): void {
    if (!this.wanted || this.subs.has(src.id)) return;
    const s = new Subscription(src);
    this.subs.set(src.id, s);
    this.up.set({ worker: src.name }, 0);
    s.sock.events.on('connect', () => this.connected(s));
    s.sock.events.on('disconnect', () => this.lost(s, 'disconnected'));
    s.sock.connect(src.endpoint);
    s.sock.subscribe();
    s.loop = this.read(s);
  }

  /** The worker left: its subscription closes and its index goes. */
  async remove(id: number): Promise<void> {
    const s = this.subs.get(id);
    if (!s) return;
    this.subs.delete(id);
    await this.closeOne(s);
    this.store.drop(id);
    for (const m of [this.messagesTotal, this.malformedTotal, this.missedTotal, this.up]) m.remove(s.src.name);
    for (const t of EVENT_TYPES) this.eventsTotal.remove(s.src.name, t);
  }

  async close(): Promise<void> {
    const all = [...this.subs.values()];
    this.subs.clear();
    await Promise.all(all.map((s) => this.closeOne(s)));
  }

  status(): KvEventSubscriptionStatus[] {
    return [...this.subs.values()].map((s) => ({ worker: s.src.name, endpoint: s.src.endpoint, live: s.live, messages: s.messages, malformed: s.malformed, missed: s.missed }));
  }

  private async closeOne(s: Subscription): Promise<void> {
    s.closed = true;
    s.sock.close();
    await s.loop;
  }

  private connected(s: Subscription): void {
    if (s.closed || s.live) return;
    s.live = true;
    s.lastSeq = -1;
    this.store.open(s.src.id);
    this.up.set({ worker: s.src.name }, 1);
    this.note(`kv events: ${s.src.name} subscribed at ${s.src.endpoint}`);
  }

  private lost(s: Subscription, why: string): void {
    if (s.closed || !s.live) return;
    s.live = false;
    this.store.drop(s.src.id);
    this.up.set({ worker: s.src.name }, 0);
    this.note(`kv events: ${s.src.name}'s stream at ${s.src.endpoint} ${why}: routing it on the approximate prefix index until it reconnects`);
  }

  private async read(s: Subscription): Promise<void> {
    try {
      for await (const frames of s.sock) this.onMessage(s, frames);
    } catch (err) {
      // Only a closed socket ends the loop on purpose; anything else is reported, and the index dropped.
      if (!s.closed) {
        this.lost(s, `failed (${(err as Error).message})`);
        this.up.set({ worker: s.src.name }, 0);
      }
    }
  }

  private onMessage(s: Subscription, frames: Buffer[]): void {
    if (s.closed) return;
    const name = s.src.name;
    const m = decodeKvEventMessage(frames);
    if (!m.ok) {
      s.malformed++;
      this.malformedTotal.inc({ worker: name });
      // The first, then every 1000th: a broken publisher must not flood the log.
      if (s.malformed % 1000 === 1) this.note(`kv events: ${name}: malformed message skipped (${m.reason}); ${s.malformed} so far`);
      return;
    }
    // A message proves the connection even if the connect event has not been seen yet.
    if (!s.live) this.connected(s);
    if (s.lastSeq >= 0) {
      if (m.seq > s.lastSeq + 1) {
        const gap = m.seq - s.lastSeq - 1;
        s.missed += gap;
        this.missedTotal.inc({ worker: name }, gap);
      } else if (m.seq <= s.lastSeq) {
        this.note(`kv events: ${name}: sequence went back (${s.lastSeq} → ${m.seq}): the engine restarted, its index starts empty`);
        this.store.open(s.src.id);
      }
    }
    s.lastSeq = m.seq;
    s.messages++;
    this.messagesTotal.inc({ worker: name });
    const r = this.store.applyBatch(s.src.id, m.batch);
    const ev = this.eventsTotal;
    if (r.stored) ev.inc({ worker: name, type: 'stored' }, r.stored);
    if (r.removed) ev.inc({ worker: name, type: 'removed' }, r.removed);
    if (r.cleared) ev.inc({ worker: name, type: 'cleared' }, r.cleared);
    if (r.orphans) ev.inc({ worker: name, type: 'orphan' }, r.orphans);
    if (r.lora) ev.inc({ worker: name, type: 'lora' }, r.lora);
    if (m.unknownEvents) ev.inc({ worker: name, type: 'unknown' }, m.unknownEvents);
  }
}
