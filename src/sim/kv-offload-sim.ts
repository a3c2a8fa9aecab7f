import type { Engine } from '../engine/engine.js';
import { KvOffloadTiers, type OffloadTierStats } from '../engine/kv-offload.js';
import type { FleetWorker } from '../profiles/fleet.js';
import type { OffloadTierSummary, Summary, WorkerSummary } from '../metrics/summary.js';

/** Gives each worker whose engine settings carry `kv_offload` its tiers (block bytes of the whole worker). */
export function attachOffloadTiers(fleet: readonly FleetWorker[], engines: readonly Engine[]): void {
  fleet.forEach((w, i) => {
    const cfg = w.deployment.engine.kvOffload;
    if (!cfg) return;
    const blockBytes = w.deployment.model.kv_cache_bytes_per_token_bf16 * w.deployment.engine.blockSize;
    engines[i].attachOffload(new KvOffloadTiers(cfg, blockBytes));
  });
}

function tierSummary(t: OffloadTierStats, blockBytes: number, queried: number): OffloadTierSummary {
  return {
    tier: t.tier,
    capacity_gib: (t.capacityBlocks * blockBytes) / 2 ** 30,
    hit_rate: queried > 0 ? t.hitTokens / queried : 0,
    hit_tokens: t.hitTokens,
    loaded_gb: t.loadedBytes / 1e9,
    load_s: t.loadS,
    stored_blocks: t.stored,
    evicted_blocks: t.evicted,
  };
}

/** Per-worker tier figures, on the workers that have tiers. */
export function workerOffloadSummary(engines: readonly Engine[], workers: WorkerSummary[]): void {
  engines.forEach((e, i) => {
    const tiers = e.offloadTiers;
    if (tiers) workers[i].kv_offload = tiers.stats().map((t) => tierSummary(t, tiers.blockBytes, e.counters.prefixQueries));
  });
}

/** Fleet-wide tier figures (summed per tier name); undefined when no worker has tiers. */
export function offloadSummary(engines: readonly Engine[]): Summary['kv_offload'] {
  const by = new Map<string, OffloadTierSummary>();
  let queried = 0;
  let hbmHits = 0;
  let lowerHits = 0;
  let any = false;
  for (const e of engines) {
    queried += e.counters.prefixQueries;
    hbmHits += e.counters.prefixHits;
    const tiers = e.offloadTiers;
    if (!tiers) continue;
    any = true;
    for (const t of tiers.stats()) {
      lowerHits += t.hitTokens;
      const s = tierSummary(t, tiers.blockBytes, 0);
      const acc = by.get(t.tier);
      if (!acc) by.set(t.tier, s);
      else {
        acc.capacity_gib += s.capacity_gib;
        acc.hit_tokens += s.hit_tokens;
        acc.loaded_gb += s.loaded_gb;
        acc.load_s += s.load_s;
        acc.stored_blocks += s.stored_blocks;
        acc.evicted_blocks += s.evicted_blocks;
      }
    }
  }
  if (!any) return undefined;
  const tiers = [...by.values()];
  for (const t of tiers) t.hit_rate = queried > 0 ? t.hit_tokens / queried : 0;
  return { hit_rate_all_tiers: queried > 0 ? (hbmHits + lowerHits) / queried : 0, tiers };
}
