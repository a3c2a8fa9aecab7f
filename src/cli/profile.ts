import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { resolveDeployment, shippedDeployments, deploymentName, gpuCatalog } from '../profiles/catalog.js';
import { RooflineStepCost } from '../profiles/roofline.js';
import type { Deployment } from '../profiles/types.js';
import { runAction } from './errors.js';

/** Resolves NAME: a shipped profile, a profile file, or a bare GPU id (default model). */
function resolveName(name: string): Deployment {
  if (!shippedDeployments().has(name) && gpuCatalog().has(name)) return resolveDeployment({ gpu: name });
  return resolveDeployment({ profile: name });
}

export function describeDeployment(d: Deployment): string {
  const cost = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
  const ms = (s: number): string => `${(s * 1e3).toFixed(2)} ms`;
  const e = d.engine;
  const lines = [
    `profile ${d.name}`,
    `  source              ${d.source}`,
    `  gpu                 ${d.gpu.id} (${d.gpu.name}): ${d.gpu.memory_gib} GiB, ${d.gpu.memory_bandwidth_gbps} GB/s, ${d.gpu.bf16_dense_tflops} BF16 TFLOPS`,
    `  model               ${d.model.id} (${d.model.hf_name}): ${d.model.params_b} B params, ${d.model.kv_cache_bytes_per_token_bf16} KV bytes/token`,
    `  tensor parallel     ${d.tp}`,
    `  cost                $${d.costUsdPerHour.toFixed(3)}/h`,
    `  engine              max_num_seqs=${e.maxNumSeqs} max_num_batched_tokens=${e.maxNumBatchedTokens} block_size=${e.blockSize} gpu_memory_utilization=${e.gpuMemoryUtilization} prefix_caching=${e.enablePrefixCaching} reserve_full_prompt=${e.reserveFullPrompt}`,
    `  kv cache            ${e.numGpuBlocks} blocks = ${e.numGpuBlocks * e.blockSize} tokens (${d.kvBlocksSource})`,
    `  coefficients        ${Object.entries(d.coefficients).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    '  step time (roofline + overheads):',
    `    decode, batch 1, 1k context      ${ms(cost.decodeSeconds(1, 1024))}`,
    `    decode, batch 32, 1k context     ${ms(cost.decodeSeconds(32, 32 * 1024))}`,
    `    decode, batch 128, 1k context    ${ms(cost.decodeSeconds(128, 128 * 1024))}`,
    `    prefill 512 tokens, no context   ${ms(cost.seconds({ tokens: 512, seqs: 1, prefillAttnPairs: 512 * 256, prefillKvTokens: 512, decodeKvTokens: 0 }))}`,
    `    prefill 2048 tokens, no context  ${ms(cost.seconds({ tokens: 2048, seqs: 1, prefillAttnPairs: 2048 * 1024, prefillKvTokens: 2048, decodeKvTokens: 0 }))}`,
  ];
  return lines.join('\n');
}

export function registerProfile(program: Command): void {
  const profile = program.command('profile').description('Deployment profiles: how fast a GPU × model × TP × engine setting is, and what it costs');
  profile
    .command('show <name>')
    .description(`print a profile: a shipped name (e.g. ${deploymentName(DEFAULTS.model, 'l20', 1)}), a profile file, or a GPU id`)
    .action((name: string) => runAction(() => void process.stdout.write(`${describeDeployment(resolveName(name))}\n`)));
  profile
    .command('list')
    .description('list the shipped profiles')
    .action(() =>
      runAction(() => {
        for (const name of shippedDeployments().keys()) process.stdout.write(`${name}\n`);
      }),
    );
}
