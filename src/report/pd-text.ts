import type { Summary } from '../metrics/summary.js';

function ms(v: number): string {
  return Number.isFinite(v) ? v.toFixed(2) : '-';
}

/** Lines for a disaggregated run and for KV offload tiers (empty when the run had neither). */
export function pdSummaryLines(s: Summary): string[] {
  const out: string[] = [];
  const pd = s.pd;
  if (pd) {
    out.push('');
    out.push(`disaggregation: ${pd.prefill_workers} prefill + ${pd.decode_workers} decode workers; ${pd.disaggregated} requests moved, ${pd.local} prefilled on their decode worker (threshold ${pd.threshold_tokens} uncached tokens)`);
    out.push(`KV transfer ms: mean ${ms(pd.transfer_ms.mean)}, p50 ${ms(pd.transfer_ms.p50)}, p99 ${ms(pd.transfer_ms.p99)}; wait for decode blocks ms: mean ${ms(pd.block_wait_ms.mean)}, p99 ${ms(pd.block_wait_ms.p99)}`);
    out.push(`moved ${pd.transferred_gb.toFixed(2)} GB (${pd.transferred_tokens} tokens; ${pd.decode_cached_tokens} tokens already cached on the decode side); links: ${pd.links.join(', ') || '-'}`);
  }
  const off = s.kv_offload;
  if (off) {
    out.push('');
    out.push(`KV offload: hit rate ${(s.prefix_hit_rate * 100).toFixed(1)}% HBM, ${(off.hit_rate_all_tiers * 100).toFixed(1)}% with lower tiers`);
    for (const t of off.tiers) {
      out.push(`  ${t.tier}: ${t.capacity_gib.toFixed(1)} GiB, hits ${(t.hit_rate * 100).toFixed(1)}% of prompt tokens, loaded ${t.loaded_gb.toFixed(2)} GB in ${t.load_s.toFixed(3)} s, ${t.stored_blocks} blocks stored, ${t.evicted_blocks} evicted`);
    }
  }
  return out;
}
