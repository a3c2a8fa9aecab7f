import type { Gpu } from './types.js';

/**
 * The peaks a GPU's kernels run against, from datasheet facts only (docs/speed-model.md §2):
 *
 *   compute   = datasheet tensor peak × sustained clock / the boost clock the peak is quoted at
 *   bandwidth = datasheet bandwidth × the share of the DRAM bus that carries data
 *
 * GeForce cards under GPU Boost hold clocks above their rated boost when neither power nor
 * temperature limits them, so they reach more than the datasheet peak; power-capped datacenter
 * parts are taken to run at (or, absorbed by the fitted efficiency, below) theirs — the fact is
 * recorded only where the two differ. GDDR parts with in-band ECC on (datacenter GDDR GPUs ship
 * with it enabled) store check bits in the same DRAM: 1/16 of the memory and of every transfer.
 * The fitted efficiencies are relative to these peaks, so a GPU's facts here, not its timings,
 * are what carries it from the GPUs the fit saw.
 */
export interface EffectivePeaks {
  tflops: number;
  bandwidthGbps: number;
}

/** Share of a DRAM transfer that is data when ECC check bits travel in-band (1 of 16 is ECC). */
export const INBAND_ECC_DATA_SHARE = 15 / 16;

export type PeakFacts = Pick<Gpu, 'bf16_dense_tflops' | 'memory_bandwidth_gbps' | 'clock_ghz' | 'ecc'>;

export function clockRatio(g: Pick<Gpu, 'clock_ghz'>): number {
  const c = g.clock_ghz;
  return c ? c.sustained / c.rated_boost : 1;
}

export function bandwidthShare(g: Pick<Gpu, 'ecc'>): number {
  return g.ecc?.inband ? INBAND_ECC_DATA_SHARE : 1;
}

export function effectivePeaks(g: PeakFacts): EffectivePeaks {
  return { tflops: g.bf16_dense_tflops * clockRatio(g), bandwidthGbps: g.memory_bandwidth_gbps * bandwidthShare(g) };
}
