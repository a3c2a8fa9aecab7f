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
  readonly store = new KvBlockStore();
  private clock: Clock | undefined;
  private wanted = false;

  constructor(readonly lagS: number) {}

  /** The env factory for the policy; indexes asked for with `source: 'kv-events'` read this store. */
  indexFactory(): PrefixIndexFactory {
    const clock: Clock = { now: () => this.clock?.now() ?? 0 };
    return kvEventsIndexFactory(this.store, clock, () => (this.wanted = true));
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
      this.store.open(id);
      engine.observeKvCache({
        stored: (_seq: Sequence, from: number, to: number, hashes: readonly number[]) => {
          const blocks = hashes.slice(from, to);
          this.deliver(() => this.store.stored(id, blocks, blocks, bs));
        },
        removed: (hash: number) => this.deliver(() => this.store.removed(id, [hash])),
      });
    });
  }

  private deliver(apply: () => void): void {
    if (this.lagS <= 0) apply();
    else this.store.later((this.clock as Clock).now() + this.lagS, apply);
  }
}
