import type { Gpu } from './types.js';
import { interp1 } from './operator-tables.js';

/** A measured all-reduce table: time by message size for one GPU type and TP degree. */
export interface AllReduceTable {
  gpu: string;
  tp: number;
  link: string;
  bytes: number[];
  us: number[];
}

/**
 * PCIe all-reduce model, used where no measured table exists (every PCIe-only GPU: no NVLink
 * measurements of them are public). NCCL runs a ring: 2·(tp−1) steps, each moving 1/tp of the
 * message over one link and paying a fixed per-step latency:
 *
 *   t = 2·(tp−1) · (α + bytes / (tp · B))
 *
 *  - B: achieved one-way bandwidth = (interconnect_gbps / 2) · PCIE_LINK_EFFICIENCY. NCCL's
 *    busbw on PCIe Gen4/Gen5 x16 peer-to-peer reaches ~75-80% of the one-way link rate.
 *  - Without GPU peer-to-peer (GeForce cards: P2P is disabled in the driver) every step is staged
 *    through host memory: two copies per step, so half the bandwidth and twice the latency.
 *  - α = PCIE_STEP_LATENCY_US: one ring step's launch + PCIe round trip + NCCL protocol
 *    handshake; NCCL's own latency tables put the LL-protocol PCIe step at a few µs, and the
 *    measured NVLink pairs (vidur network tables) show ~7 µs for a whole 4 KB all-reduce.
 */
export const PCIE_LINK_EFFICIENCY = 0.75;
export const PCIE_STEP_LATENCY_US = 8;

export function hostStaged(gpu: Gpu): boolean {
  return /P2P disabled/i.test(gpu.interconnect_type);
}

export function isPcie(gpu: Gpu): boolean {
  return /^PCIe/i.test(gpu.interconnect_type);
}

/** Seconds for one ring all-reduce of `bytes` over PCIe (see the model above). */
export function pcieAllReduceSeconds(gpu: Gpu, tp: number, bytes: number): number {
  if (tp <= 1) return 0;
  const staged = hostStaged(gpu);
  const bw = ((gpu.interconnect_gbps * 1e9) / 2) * PCIE_LINK_EFFICIENCY * (staged ? 0.5 : 1);
  const alpha = (PCIE_STEP_LATENCY_US * (staged ? 2 : 1)) / 1e6;
  return 2 * (tp - 1) * (alpha + bytes / (tp * bw));
}

/**
 * Link model for NVLink/NVSwitch GPUs without a measured table: the same ring, over the NVLink
 * one-way bandwidth at the efficiency the measured DGX tables show for large messages, and the
 * small-message latency they show.
 */
export const NVLINK_LINK_EFFICIENCY = 0.7;
export const NVLINK_STEP_LATENCY_US = 4;

export function nvlinkAllReduceSeconds(gpu: Gpu, tp: number, bytes: number): number {
  if (tp <= 1) return 0;
  const bw = ((gpu.interconnect_gbps * 1e9) / 2) * NVLINK_LINK_EFFICIENCY;
  return 2 * (tp - 1) * (NVLINK_STEP_LATENCY_US / 1e6 + bytes / (tp * bw));
}

/**
 * Prices one all-reduce of a deployment: the measured table when there is one for this GPU and
 * TP degree (interpolated by size), else the PCIe or NVLink ring model.
 */
export class AllReduceCost {
  readonly source: string;
  private readonly table: AllReduceTable | undefined;

  constructor(
    private readonly gpu: Gpu,
    private readonly tp: number,
    tables: readonly AllReduceTable[],
  ) {
    this.table = tables.find((t) => t.gpu === gpu.id && t.tp === tp);
    if (tp <= 1) this.source = 'none (TP 1)';
    else if (this.table) this.source = `measured NCCL table (${this.table.link})`;
    else if (isPcie(gpu)) this.source = `PCIe ring model (${hostStaged(gpu) ? 'host-staged, no P2P' : 'P2P'}: ${PCIE_STEP_LATENCY_US} µs/step, ${PCIE_LINK_EFFICIENCY * 100}% of ${gpu.interconnect_gbps / 2} GB/s one way)`;
    else this.source = `NVLink ring model (${NVLINK_STEP_LATENCY_US} µs/step, ${NVLINK_LINK_EFFICIENCY * 100}% of ${gpu.interconnect_gbps / 2} GB/s one way)`;
  }

  seconds(bytes: number): number {
    if (this.tp <= 1 || bytes <= 0) return 0;
    if (this.table) return interp1(this.table.bytes, this.table.us, bytes) / 1e6;
    return isPcie(this.gpu) ? pcieAllReduceSeconds(this.gpu, this.tp, bytes) : nvlinkAllReduceSeconds(this.gpu, this.tp, bytes);
  }
}
