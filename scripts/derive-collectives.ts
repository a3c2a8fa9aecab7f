/**
 * Writes profiles/collectives.json: measured NCCL all-reduce times by message size for the GPUs
 * Vidur measured inside one NVSwitch node (DGX A100, DGX H100), resampled to √2 size steps.
 * Run: npm run build && node dist/scripts/derive-collectives.js [VIDUR_NETWORK_DIR]
 */
import { join } from 'node:path';
import { PROFILES_DIR } from '../src/profiles/catalog.js';
import { readVidurAllReduce, VIDUR_ATTRIBUTION } from '../src/profiles/import/vidur.js';
import { sharedDataDir } from '../src/workload/shared-data.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { formatProfileJson } from '../src/cli/profile-import.js';
import type { AllReduceTable } from '../src/profiles/collectives.js';

const dir = process.argv[2] ?? join(sharedDataDir() ?? '../shared/data', 'operator-profiles', 'vidur', 'network');
/** Vidur node type → the catalog GPUs that sit in that node (SXM parts on NVSwitch). */
const NODES: { node: string; gpus: string[]; link: string }[] = [
  { node: 'a100_dgx', gpus: ['a100-80g-sxm', 'a100-40g-sxm'], link: 'NVLink 3 via NVSwitch (DGX A100), Vidur measurement' },
  { node: 'h100_dgx', gpus: ['h100-sxm'], link: 'NVLink 4 via NVSwitch (DGX H100), Vidur measurement' },
];
const tables: AllReduceTable[] = [];
for (const n of NODES) {
  for (const tp of [2, 4, 8]) {
    const t = readVidurAllReduce(join(dir, n.node, 'all_reduce.csv'), tp);
    for (const gpu of n.gpus) tables.push({ gpu, tp, link: n.link, bytes: t.bytes, us: t.us });
  }
}
const out = {
  _about: 'Measured NCCL all-reduce times (µs) by message size (bytes, bf16 activations) within one node, median per √2 size bucket, made monotone in size. Written by scripts/derive-collectives.ts from vidur data/profiling/network/{a100_dgx,h100_dgx}/all_reduce.csv (num_workers = devices_per_node = tp). GPUs without a table use the PCIe/NVLink ring model in src/profiles/collectives.ts.',
  attribution: VIDUR_ATTRIBUTION,
  tables,
};
writeFileAtomic(join(PROFILES_DIR, 'collectives.json'), `${formatProfileJson(out)}\n`);
process.stdout.write(`wrote ${tables.length} tables to ${join(PROFILES_DIR, 'collectives.json')}\n`);
