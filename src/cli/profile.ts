import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { resolveDeployment, shippedDeployments, deploymentName, gpuCatalog } from '../profiles/catalog.js';
import { speedModelOf } from '../profiles/step-cost-factory.js';
import { registerProfileImport } from './profile-import.js';
import { describeDeployment } from './describe-deployment.js';
import type { Deployment } from '../profiles/types.js';
import { collect, parseNumberFlag, runAction } from './errors.js';
import { parseEngineOverrides, getGpu, getModel, type DeploymentFile } from '../profiles/catalog.js';
import { fitCoefficients, reserveForBlocks } from '../profiles/measure.js';
import { runSweep } from '../replay/measure-sweep.js';
import { parseEngineFlags } from './mock-worker.js';
import { parseTarget } from './replay.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';

/** Resolves NAME: a shipped profile, a profile file, or a bare GPU id (default model). */
function resolveName(name: string): Deployment {
  if (!shippedDeployments().has(name) && gpuCatalog().has(name)) return resolveDeployment({ gpu: name });
  return resolveDeployment({ profile: name });
}


export function registerProfile(program: Command): void {
  const profile = program.command('profile').description('Deployment profiles: how fast a GPU × model × TP × engine setting is, and what it costs');
  profile
    .command('show <name>')
    .description(`print a profile: a shipped name (e.g. ${deploymentName(DEFAULTS.model, 'l20', 1)}), a profile file, or a GPU id`)
    .action((name: string) => runAction(() => void process.stdout.write(`${describeDeployment(resolveName(name))}\n`)));
  profile
    .command('list')
    .description('list the shipped profiles and whether each is measured or a roofline estimate')
    .action(() =>
      runAction(() => {
        const names = [...shippedDeployments().keys()];
        const w = Math.max(...names.map((n) => n.length));
        for (const name of names) process.stdout.write(`${name.padEnd(w)}  ${speedModelOf(resolveDeployment({ profile: name }))}\n`);
      }),
    );
  registerProfileMeasure(profile);
  registerProfileImport(profile);
}

interface MeasureFlags {
  target: string;
  gpu: string;
  model: string;
  tp: string;
  engine: string[];
  speedup: string;
  name?: string;
  out?: string;
}

/** The profile file `profile measure` writes: a deployment file plus how it was measured. */
export interface MeasuredProfileFile extends DeploymentFile {
  measurement: {
    target: string;
    speedup: number;
    wall_s: number;
    observations: number;
    outliers: number;
    rms_rel_error: number;
    transport_ms: number;
    transport_us_per_token: number;
    prefill: { input_tokens: number; cached_tokens: number; ttft_ms: number }[];
    decode: { seqs: number; mean_kv_tokens: number; step_ms: number; steps: number }[];
  };
}

/** Typical jitter of one client-side timestamp (HTTP round trip, event-loop scheduling), wall seconds. */
const CLIENT_NOISE_S = 0.003;

/** Sweeps a live endpoint and fits a deployment profile to it (the `profile measure` command). */
export async function measureProfile(f: MeasureFlags, log: (line: string) => void): Promise<MeasuredProfileFile> {
  const target = parseTarget(f.target);
  const gpu = getGpu(f.gpu, '--gpu');
  const model = getModel(f.model, '--model');
  const tp = parseNumberFlag('--tp', f.tp, { integer: true, min: 1 });
  const speedup = parseNumberFlag('--speedup', f.speedup, { min: 0 });
  if (speedup <= 0) throw new UserError('--speedup: expected a number > 0');
  const overrides = parseEngineOverrides(parseEngineFlags(f.engine), '--engine');
  // The engine settings the endpoint does not report (chunk budget, batch limit) are vLLM's defaults unless given.
  const assumed = resolveDeployment({ gpu: gpu.id, model: model.id, tp, engine: overrides, where: 'profile measure' });
  const sweep = await runSweep({
    target,
    speedup,
    maxNumBatchedTokens: assumed.engine.maxNumBatchedTokens,
    fallbackKvTokens: assumed.engine.numGpuBlocks * assumed.engine.blockSize,
    maxModelLen: model.max_position_embeddings,
    maxBatch: assumed.engine.maxNumSeqs,
    log,
  });
  if (sweep.prefill.length < 4 || sweep.decode.length < 3) {
    throw new UserError(`profile measure: ${target} gave too few clean measurements (${sweep.prefill.length} prefills, ${sweep.decode.length} decode windows)`);
  }
  const fit = fitCoefficients({ gpu, model, tp, maxNumBatchedTokens: assumed.engine.maxNumBatchedTokens, prior: assumed.coefficients, prefill: sweep.prefill, decode: sweep.decode, noiseS: CLIENT_NOISE_S * speedup });
  const fx = sweep.facts;
  const blockSize = fx.blockSize ?? assumed.engine.blockSize;
  const util = fx.gpuMemoryUtilization ?? assumed.engine.gpuMemoryUtilization;
  const coefficients = { ...fit.coefficients };
  if (fx.numGpuBlocks !== undefined) coefficients.activation_reserve_gib = Number(reserveForBlocks(gpu, model, tp, util, blockSize, fx.numGpuBlocks).toPrecision(4));
  const engine: DeploymentFile['engine'] = { ...overrides, block_size: blockSize, gpu_memory_utilization: util, max_num_batched_tokens: assumed.engine.maxNumBatchedTokens };
  if (fx.numGpuBlocks !== undefined) engine.num_gpu_blocks = fx.numGpuBlocks;
  if (fx.enablePrefixCaching !== undefined) engine.enable_prefix_caching = fx.enablePrefixCaching;
  return {
    name: f.name ?? `${deploymentName(model.id, gpu.id, tp)}-measured`,
    gpu: gpu.id,
    model: model.id,
    tp,
    engine,
    coefficients,
    source: `measured by \`router profile measure\` against ${target} (${fx.model ?? 'model not reported'}): ${fit.observations} observations, rms error ${(fit.rmsRelError * 100).toFixed(2)}%`,
    measurement: {
      target,
      speedup,
      wall_s: Number(sweep.wallS.toFixed(2)),
      observations: fit.observations,
      outliers: fit.outliers,
      rms_rel_error: Number(fit.rmsRelError.toPrecision(4)),
      transport_ms: Number((fit.transportS * 1e3).toPrecision(4)),
      transport_us_per_token: Number((fit.transportPerTokenS * 1e6).toPrecision(4)),
      prefill: sweep.prefill.map((p) => ({ input_tokens: p.inputTokens, cached_tokens: p.cachedTokens, ttft_ms: Number((p.ttftS * 1e3).toFixed(3)) })),
      decode: sweep.decode.map((d) => ({ seqs: d.seqs, mean_kv_tokens: Math.round(d.meanKvTokens), step_ms: Number((d.stepS * 1e3).toFixed(4)), steps: d.steps })),
    },
  };
}

function registerProfileMeasure(profile: Command): void {
  profile
    .command('measure')
    .description('sweep prompt lengths, batch sizes and contexts against a live OpenAI-compatible endpoint and fit a deployment profile (roofline efficiencies and overheads) that simulate accepts')
    .requiredOption('--target <url>', 'base URL of one engine (not a router: the sweep needs requests to share one batch)')
    .requiredOption('--gpu <id>', 'the GPU the endpoint runs on (hardware facts come from profiles/hardware.json)')
    .option('--model <id>', 'the model it serves (catalog id)', DEFAULTS.model)
    .option('--tp <n>', 'tensor-parallel degree', '1')
    .option('--engine <k=v>', 'engine settings the endpoint does not report, repeatable (max_num_batched_tokens, max_num_seqs)', collect, [])
    .option('--speedup <k>', 'the endpoint runs K times faster than real time (a mock-worker started with --speedup K)', String(DEFAULTS.live.speedup))
    .option('--name <name>', 'profile name (default MODEL@GPU-measured)')
    .option('--out <file>', 'write the profile JSON here (use it as `profile: FILE` in a fleet file); default: print it')
    .action((f: MeasureFlags) =>
      runAction(async () => {
        const file = await measureProfile(f, (line) => process.stderr.write(`profile measure: ${line}\n`));
        const text = `${JSON.stringify(file, null, 2)}\n`;
        if (f.out) {
          writeFileAtomic(f.out, text);
          process.stderr.write(`wrote ${f.out} (${file.measurement.observations} observations, rms error ${(file.measurement.rms_rel_error * 100).toFixed(2)}%, ${file.measurement.wall_s} s)\n`);
          process.stdout.write(`${describeDeployment(resolveDeployment({ profile: f.out, where: f.out }))}\n`);
        } else process.stdout.write(text);
      }),
    );
}
