import { DEFAULTS } from '../defaults.js';
import type { KvLink } from '../engine/kv-transfer.js';
import type { FleetWorker } from '../profiles/fleet.js';
import { pairKey } from '../profiles/fleet-pd.js';

/** The link one prefill→decode transfer crosses, and how it was chosen (docs/pd.md). */
export interface ResolvedKvLink extends KvLink {
  readonly layerwise: boolean;
  readonly kind: 'nvlink' | 'pcie' | 'rdma' | 'fleet file';
}

/**
 * Nodes of the fleet as the simulator places it: workers in fleet order fill nodes of
 * `DEFAULTS.pd.gpusPerNode` GPUs of one type (a worker takes `tp` GPUs and never spans nodes).
 */
export function nodeOf(fleet: readonly FleetWorker[]): number[] {
  const out: number[] = [];
  let node = -1;
  let used = Infinity;
  let gpu = '';
  for (const w of fleet) {
    const tp = w.deployment.tp;
    if (w.deployment.gpu.id !== gpu || used + tp > DEFAULTS.pd.gpusPerNode) {
      node++;
      used = 0;
      gpu = w.deployment.gpu.id;
    }
    used += tp;
    out.push(node);
  }
  return out;
}

/**
 * Each GPU of a TP group holds its shard of the KV and sends it over its own link, all at once:
 * a transfer moves `kv bytes per token / tp` per GPU at one GPU's link bandwidth. Within a node
 * that is the GPU's interconnect (NVLink, or PCIe peer-to-peer), one way; across nodes the GPU's
 * RDMA NIC. A fleet file's `kv_links` (per pair of entries) or `kv_link` (all pairs) wins field by field.
 */
export function resolveKvLink(fleet: readonly FleetWorker[], nodes: readonly number[], p: number, d: number): ResolvedKvLink {
  const pw = fleet[p];
  const dw = fleet[d];
  const pd = DEFAULTS.pd;
  const sameNode = nodes[p] === nodes[d];
  const oneWay = (Math.min(pw.deployment.gpu.interconnect_gbps, dw.deployment.gpu.interconnect_gbps) * pd.oneWayShare);
  // The fact names the GPU's own fabric first ("NVLink 4 (18 links)", "PCIe Gen4 x16 (no NVLink)").
  const fabric = /^(nvlink|amd infinity fabric)/i;
  const nvlink = fabric.test(pw.deployment.gpu.interconnect_type) && fabric.test(dw.deployment.gpu.interconnect_type);
  let link: ResolvedKvLink = sameNode
    ? { gbps: oneWay, latencyUs: pd.sameNodeLatencyUs, layerwise: pd.layerwise, kind: nvlink ? 'nvlink' : 'pcie' }
    : { gbps: Math.min(pd.rdmaGbps, oneWay), latencyUs: pd.rdmaLatencyUs, layerwise: pd.layerwise, kind: 'rdma' };
  const links = pw.kvLinks;
  const spec = links?.pairs.get(pairKey(pw.group ?? pw.name, dw.group ?? dw.name)) ?? links?.all;
  if (spec) {
    link = {
      gbps: spec.gbps ?? link.gbps,
      latencyUs: spec.latencyUs ?? link.latencyUs,
      layerwise: spec.layerwise ?? link.layerwise,
      kind: 'fleet file',
    };
  }
  return link;
}

/** KV bytes per token one GPU of the pair sends: the model's per-token KV over the wider TP group's shards. */
export function kvBytesPerGpuToken(fleet: readonly FleetWorker[], p: number, d: number): number {
  const model = fleet[p].deployment.model;
  return model.kv_cache_bytes_per_token_bf16 / Math.min(fleet[p].deployment.tp, fleet[d].deployment.tp);
}
