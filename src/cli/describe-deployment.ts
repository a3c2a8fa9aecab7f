import { collectiveTables } from '../profiles/catalog.js';
import { AllReduceCost } from '../profiles/collectives.js';
import { stepCostFor, speedModelOf } from '../profiles/step-cost-factory.js';
import { OperatorTableStepCost } from '../profiles/operator-step-cost.js';
import type { Deployment } from '../profiles/types.js';
import { bandwidthShare, clockRatio, effectivePeaks } from '../profiles/effective-peaks.js';

/** The peaks the roofline runs against, where the GPU's facts move them off the datasheet. */
function effectivePeaksLine(d: Deployment): string[] {
  const g = d.gpu;
  if (clockRatio(g) === 1 && bandwidthShare(g) === 1) return [];
  const e = effectivePeaks(g);
  const why = [g.clock_ghz && `held clock ${g.clock_ghz.sustained} GHz vs rated boost ${g.clock_ghz.rated_boost} GHz`, g.ecc?.inband && 'in-band ECC: 15/16 of the bandwidth'].filter(Boolean);
  return [`  effective peaks     ${Number(e.tflops.toFixed(1))} BF16 TFLOPS, ${Number(e.bandwidthGbps.toFixed(1))} GB/s (${why.join('; ')})`];
}

/** The text `router profile show` and `profile import` print for a deployment (its own module: both commands use it). */
export function describeDeployment(d: Deployment): string {
  const cost = stepCostFor(d);
  const ms = (s: number): string => `${(s * 1e3).toFixed(2)} ms`;
  const e = d.engine;
  const lines = [
    `profile ${d.name}`,
    `  source              ${d.source}`,
    `  speed model         ${speedModelOf(d)}`,
    ...(d.operators ? [`  operator data       ${d.operators.data}`, `  attribution         ${d.operators.attribution}`] : []),
    ...(cost instanceof OperatorTableStepCost
      ? [`  per-layer ops       ${cost.describe.perLayer}`, `  attention           ${cost.describe.attention}`, `  per sequence        ${cost.describe.perSequence}`, `  TP collectives      ${cost.describe.collectives}`]
      : d.tp > 1 ? [`  TP collectives      ${new AllReduceCost(d.gpu, d.tp, collectiveTables()).source}`] : []),
    `  gpu                 ${d.gpu.id} (${d.gpu.name}): ${d.gpu.memory_gib} GiB, ${d.gpu.memory_bandwidth_gbps} GB/s, ${d.gpu.bf16_dense_tflops} BF16 TFLOPS`,
    ...effectivePeaksLine(d),
    `  model               ${d.model.id} (${d.model.hf_name}): ${d.model.params_b} B params, ${d.model.kv_cache_bytes_per_token_bf16} KV bytes/token`,
    `  tensor parallel     ${d.tp}`,
    `  cost                $${d.costUsdPerHour.toFixed(3)}/h`,
    `  engine              max_num_seqs=${e.maxNumSeqs} max_num_batched_tokens=${e.maxNumBatchedTokens} block_size=${e.blockSize} gpu_memory_utilization=${e.gpuMemoryUtilization} prefix_caching=${e.enablePrefixCaching} reserve_full_prompt=${e.reserveFullPrompt}`,
    `  kv cache            ${e.numGpuBlocks} blocks = ${e.numGpuBlocks * e.blockSize} tokens (${d.kvBlocksSource})`,
    ...(d.operators ? [] : [`  coefficients        ${Object.entries(d.coefficients).map(([k, v]) => `${k}=${v}`).join(' ')}`]),
    `  step time (${d.operators ? 'operator tables' : 'roofline + overheads'}):`,
    `    decode, batch 1, 1k context      ${ms(cost.decodeSeconds(1, 1024))}`,
    `    decode, batch 32, 1k context     ${ms(cost.decodeSeconds(32, 32 * 1024))}`,
    `    decode, batch 128, 1k context    ${ms(cost.decodeSeconds(128, 128 * 1024))}`,
    `    prefill 512 tokens, no context   ${ms(cost.seconds({ tokens: 512, seqs: 1, prefillAttnPairs: 512 * 256, prefillKvTokens: 512, decodeKvTokens: 0, prefillChunks: 1 }))}`,
    `    prefill 2048 tokens, no context  ${ms(cost.seconds({ tokens: 2048, seqs: 1, prefillAttnPairs: 2048 * 1024, prefillKvTokens: 2048, decodeKvTokens: 0, prefillChunks: 1 }))}`,
  ];
  return lines.join('\n');
}
