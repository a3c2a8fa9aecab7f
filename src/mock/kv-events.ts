import { Publisher } from 'zeromq';
import type { Engine, Sequence } from '../engine/engine.js';
import type { KvEvent } from '../routing/prefix/kv-event-types.js';
import { UserError } from '../util/errors.js';
export { checkZmqEndpoint as checkKvEventsEndpoint } from '../util/zmq-endpoint.js';
import { kvEventFrames } from './kv-events-encode.js';

/** Where and how a mock worker publishes its engine's KV events. */
export interface KvEventPublisherOptions {
  /** ZMQ endpoint to bind, e.g. tcp://127.0.0.1:5557 (port 0 = any free port). */
  endpoint: string;
  /** First frame of every message (vLLM's `topic`, empty by default). */
  topic: string;
}

export interface KvEventPublisher {
  /** The bound endpoint (port resolved). */
  readonly endpoint: string;
  /** Messages sent so far (the next sequence number). */
  readonly sent: number;
  close(): Promise<void>;
}

/**
 * Publishes an engine model's prefix-cache changes as vLLM does (`--kv-events-config
 * {"publisher":"zmq"}`): a ZMQ PUB socket bound at `endpoint`; after each engine step, one
 * KVEventBatch of that step's BlockStored (newly cached full prompt blocks: their content hashes,
 * the parent's, their token ids) and BlockRemoved (evicted cached blocks), in event order.
 * The engine's block hashes are its own; what a router does with them is its business.
 * No replay socket: a subscriber that misses messages sees the gap in the sequence numbers.
 */
export async function startKvEventPublisher(engine: Engine, o: KvEventPublisherOptions): Promise<KvEventPublisher> {
  const sock = new Publisher({ linger: 0 });
  try {
    await sock.bind(o.endpoint.replace(/:0$/, ':*'));
  } catch (err) {
    sock.close();
    const e = err as NodeJS.ErrnoException;
    throw new UserError(`--kv-events ${o.endpoint}: cannot bind (${e.code ?? e.message})`);
  }
  const bs = engine.config.blockSize;
  let pending: KvEvent[] = [];
  let pendingStep = -1;
  let seq = 0;
  let closed = false;
  let sending: Promise<void> = Promise.resolve();
  let flushQueued = false;

  const flush = (): void => {
    flushQueued = false;
    if (pending.length === 0 || closed) return;
    const frames = kvEventFrames(o.topic, seq++, { ts: Date.now() / 1e3, events: pending, dataParallelRank: null });
    pending = [];
    // One send at a time on a zeromq v6 socket; a PUB socket never blocks (slow subscribers drop).
    sending = sending.then(() => (closed ? undefined : sock.send(frames))).catch(() => undefined);
  };
  const add = (e: KvEvent): void => {
    // Events of a new engine step start a new message, as vLLM publishes one batch per step.
    if (engine.counters.steps !== pendingStep) {
      flush();
      pendingStep = engine.counters.steps;
    }
    pending.push(e);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  };
  engine.observeKvCache({
    stored(s: Sequence, from: number, to: number, hashes: readonly number[]) {
      const prefix = s.req.prefix;
      if (prefix?.kind !== 'tokens') return;
      add({
        type: 'BlockStored',
        blockHashes: hashes.slice(from, to),
        parentBlockHash: from === 0 ? null : hashes[from - 1],
        tokenIds: tokenSlice(prefix.ids, from * bs, to * bs),
        blockSize: bs,
        loraId: null,
        medium: 'GPU',
      });
    },
    removed(hash: number) {
      // One event per evicted block, as vLLM's block pool reports them.
      add({ type: 'BlockRemoved', blockHashes: [hash], medium: 'GPU' });
    },
  });
  return {
    endpoint: sock.lastEndpoint ?? o.endpoint,
    get sent() {
      return seq;
    },
    close: async () => {
      flush();
      await sending;
      closed = true;
      sock.close();
    },
  };
}

function tokenSlice(ids: ArrayLike<number>, from: number, to: number): number[] {
  const out = new Array<number>(to - from);
  for (let i = from; i < to; i++) out[i - from] = ids[i];
  return out;
}
