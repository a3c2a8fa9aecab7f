import type { Engine, Sequence } from '../engine/engine.js';
import type { PrefixIndexFactory } from '../routing/env.js';
import { KvBlockStore, kvEventsIndexFactory } from '../routing/prefix/precise-index.js';
import type { WorkerView } from '../routing/types.js';
import type { Clock } from '../util/clock.js';

/**
 * The simulator's KV event stream (`simulate --kv-event-lag S`): every engine's prefix-cache
 * stores and evictions, as vLLM publishes them, reach the router's precise index `lagS`
 * simulated seconds after they happen (queued on the store, delivered when the router's clock
 * reaches them), so precise routing can be compared with approximate routing and its lag studied.
 *
 * The mapping from engine hashes to router keys is the identity here: the simulated engines hash
 * prompt blocks with the router's own chained hash (src/workload/block-hash.ts), which is what
 * the router computes from BlockStored token ids on the wire (see precise-index.ts); the wire
 * path itself is serve's (src/serve/kv-events/).
 */
export class SimKvEvents {
  /** One store per router (a replica's speculative layer is its own); every store hears every engine. */
  private readonly stores: KvBlockStore[] = [];
  private clock: Clock | undefined;
  private wanted = false;

  constructor(readonly lagS: number) {}

  /** The first router's store (a lone router's). */
  get store(): KvBlockStore {
    if (this.stores.length === 0) this.stores.push(new KvBlockStore());
    return this.stores[0];
  }

  /** The env factory for one router's policy; indexes asked for with `source: 'kv-events'` read its own store. */
  indexFactory(): PrefixIndexFactory {
    const store = new KvBlockStore();
    this.stores.push(store);
    const clock: Clock = { now: () => this.clock?.now() ?? 0 };
    return kvEventsIndexFactory(store, clock, () => (this.wanted = true));
  }

  /** Whether the policy reads KV events (else the simulator need not feed them). */
  get used(): boolean {
    return this.wanted;
  }

  /** Every engine's stream is live from the start; its events flow from now on. */
  attach(engines: readonly Engine[], views: readonly WorkerView[], clock: Clock): void {
    this.clock = clock;
    engines.forEach((engine, i) => {
      const id = views[i].id;
      const bs = engine.config.blockSize;
      for (const s of this.stores) s.open(id);
      engine.observeKvCache({
        stored: (_seq: Sequence, from: number, to: number, hashes: readonly number[]) => {
          const blocks = hashes.slice(from, to);
          for (const s of this.stores) this.deliver(s, () => s.stored(id, blocks, blocks, bs));
        },
        removed: (hash: number) => {
          for (const s of this.stores) this.deliver(s, () => s.removed(id, [hash]));
        },
      });
    });
  }

  private deliver(store: KvBlockStore, apply: () => void): void {
    if (this.lagS <= 0) apply();
    else store.later((this.clock as Clock).now() + this.lagS, apply);
  }
}
