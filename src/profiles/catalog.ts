import { usableMemoryBytes } from './effective-peaks.js';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import { UserError } from '../util/errors.js';
import type { Coefficients, Deployment, EngineConfig, Gpu, Model } from './types.js';
import { parseModelGpuProfile } from './aibrix-format.js';
import { parseOperatorTables } from './operator-tables.js';
import { architectureOf, type Architecture } from './architecture.js';
import type { AllReduceTable } from './collectives.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { loraAdapterBytes, type LoraConfig } from '../engine/lora.js';

// Re-exported: callers that read profiles find the root here too.
export { PACKAGE_ROOT };
export const PROFILES_DIR = join(PACKAGE_ROOT, 'profiles');

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path}: cannot read JSON (${(err as Error).message})`);
  }
}

let gpus: Map<string, Gpu> | undefined;
let models: Map<string, Model> | undefined;
let calibrated: Coefficients | undefined;

export function gpuCatalog(): Map<string, Gpu> {
  gpus ??= new Map((readJson(join(PROFILES_DIR, 'hardware.json')) as { gpus: Gpu[] }).gpus.map((g) => [g.id, g]));
  return gpus;
}

export function modelCatalog(): Map<string, Model> {
  models ??= new Map((readJson(join(PROFILES_DIR, 'models.json')) as { models: Model[] }).models.map((m) => [m.id, m]));
  return models;
}

let byArch: Partial<Record<Architecture, Partial<Coefficients>>> | undefined;

/**
 * The roofline coefficients fitted across all GPUs with operator data (profiles/coefficients.json):
 * the pooled set, with the GPU's architecture generation's own values when it has some.
 */
export function calibratedCoefficients(gpu?: Pick<Gpu, 'name'>): Coefficients {
  if (!calibrated) {
    const doc = readJson(join(PROFILES_DIR, 'coefficients.json')) as { coefficients: Coefficients; by_architecture?: Partial<Record<Architecture, Partial<Coefficients>>> };
    calibrated = doc.coefficients;
    byArch = doc.by_architecture ?? {};
  }
  return gpu ? { ...calibrated, ...(byArch?.[architectureOf(gpu)] ?? {}) } : calibrated;
}

export function getGpu(id: string, where = 'gpu'): Gpu {
  const g = gpuCatalog().get(id);
  if (!g) throw new UserError(`${where}: unknown GPU "${id}" (known: ${[...gpuCatalog().keys()].join(', ')})`);
  return g;
}

export function getModel(id: string, where = 'model'): Model {
  const m = modelCatalog().get(id);
  if (!m) throw new UserError(`${where}: unknown model "${id}" (known: ${[...modelCatalog().keys()].join(', ')})`);
  return m;
}

/** Engine settings as written in files and flags (vLLM's snake_case names). */
export interface EngineOverrides {
  max_num_seqs?: number;
  max_num_batched_tokens?: number;
  block_size?: number;
  num_gpu_blocks?: number;
  gpu_memory_utilization?: number;
  enable_prefix_caching?: boolean;
  reserve_full_prompt?: boolean;
  /** LoRA: adapter slots (vLLM `--max-loras`); setting it turns LoRA serving on. */
  max_loras?: number;
  max_lora_rank?: number;
  /** Host→GPU copy rate of adapters, GB/s. */
  lora_load_gbps?: number;
  lora_load_overhead_ms?: number;
}

const ENGINE_KEYS: Record<keyof EngineOverrides, 'int' | 'fraction' | 'bool' | 'positive'> = {
  max_num_seqs: 'int',
  max_num_batched_tokens: 'int',
  block_size: 'int',
  num_gpu_blocks: 'int',
  gpu_memory_utilization: 'fraction',
  enable_prefix_caching: 'bool',
  reserve_full_prompt: 'bool',
  max_loras: 'int',
  max_lora_rank: 'int',
  lora_load_gbps: 'positive',
  lora_load_overhead_ms: 'positive',
};

/** Checks an `engine` object from a file or flag; `where` names it in errors. */
export function parseEngineOverrides(v: unknown, where: string): EngineOverrides {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${where}: expected an object`);
  const out: Record<string, number | boolean> = {};
  for (const [k, val] of Object.entries(v)) {
    const kind = ENGINE_KEYS[k as keyof EngineOverrides];
    if (!kind) throw new UserError(`${where}.${k}: unknown engine setting (known: ${Object.keys(ENGINE_KEYS).join(', ')})`);
    if (kind === 'bool') {
      if (typeof val !== 'boolean') throw new UserError(`${where}.${k}: expected true or false, got ${JSON.stringify(val)}`);
    } else if (kind === 'positive') {
      if (typeof val !== 'number' || !Number.isFinite(val) || val < 0) throw new UserError(`${where}.${k}: expected a number ≥ 0, got ${JSON.stringify(val)}`);
    } else if (kind === 'int') {
      if (typeof val !== 'number' || !Number.isInteger(val) || val < 1) throw new UserError(`${where}.${k}: expected a positive integer, got ${JSON.stringify(val)}`);
    } else if (typeof val !== 'number' || !(val > 0 && val <= 1)) {
      throw new UserError(`${where}.${k}: expected a number in (0, 1], got ${JSON.stringify(val)}`);
    }
    out[k] = val;
  }
  return out;
}

/** A deployment profile file (profiles/deployments/*.json, or one written by `profile measure`). */
export interface DeploymentFile {
  name?: string;
  gpu: string;
  model?: string;
  tp?: number;
  cost_usd_per_hour?: number;
  engine?: EngineOverrides;
  coefficients?: Partial<Coefficients>;
  source?: string;
  /** AIBrix ModelGPUProfile tables for this deployment (`profile import-aibrix`). */
  aibrix?: unknown;
  /** Measured operator tables (`profile import --from llmservingsim|vidur`). */
  operators?: unknown;
}

let collectives: AllReduceTable[] | undefined;

/** Measured all-reduce tables (profiles/collectives.json, derived from Vidur's NCCL measurements). */
export function collectiveTables(): AllReduceTable[] {
  collectives ??= (readJson(join(PROFILES_DIR, 'collectives.json')) as { tables: AllReduceTable[] }).tables;
  return collectives;
}

let shipped: Map<string, { file: DeploymentFile; path: string }> | undefined;

export function deploymentName(model: string, gpu: string, tp: number): string {
  return `${model}@${gpu}${tp > 1 ? `-tp${tp}` : ''}`;
}

/** Deployment profiles shipped in profiles/deployments, by name. */
export function shippedDeployments(): Map<string, { file: DeploymentFile; path: string }> {
  if (!shipped) {
    shipped = new Map();
    const dir = join(PROFILES_DIR, 'deployments');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      const path = join(dir, f);
      const file = readJson(path) as DeploymentFile;
      const name = file.name ?? deploymentName(file.model ?? DEFAULTS.model, file.gpu, file.tp ?? 1);
      shipped.set(name, { file, path });
    }
  }
  return shipped;
}

/**
 * KV blocks vLLM would allocate: (usable memory·utilisation − weights/TP − reserve) per GPU divided by
 * the per-GPU bytes of one block. The reserve (activations, CUDA graphs) is a fitted coefficient.
 * Usable memory is what the CUDA runtime reports: 15/16 of a GDDR part with in-band ECC on.
 */
export function deriveNumGpuBlocks(gpu: Gpu, model: Model, tp: number, util: number, blockSize: number, c: Coefficients): number {
  const perGpu = usableMemoryBytes(gpu) * util - (model.params_b * 1e9 * 2) / tp - c.activation_reserve_gib * 2 ** 30;
  const blockBytes = (model.kv_cache_bytes_per_token_bf16 / tp) * blockSize;
  return Math.max(0, Math.floor(perGpu / blockBytes));
}

export interface DeploymentSpec {
  gpu?: string;
  model?: string;
  tp?: number;
  cost_usd_per_hour?: number;
  engine?: EngineOverrides;
  /** Name of a shipped deployment or path of a profile file to start from. */
  profile?: string;
  /** Where the spec came from, for error messages. */
  where?: string;
}

/** Loads a profile by shipped name or file path. */
export function loadDeploymentFile(nameOrPath: string): { file: DeploymentFile; path: string } {
  const s = shippedDeployments().get(nameOrPath);
  if (s) return s;
  if (existsSync(nameOrPath)) {
    const file = readJson(nameOrPath) as DeploymentFile;
    if (typeof file !== 'object' || file === null || typeof file.gpu !== 'string') {
      throw new UserError(`${nameOrPath}: a deployment profile needs a "gpu" field`);
    }
    return { file, path: nameOrPath };
  }
  throw new UserError(`profile "${nameOrPath}": no shipped profile by that name and no such file (shipped: ${[...shippedDeployments().keys()].join(', ')})`);
}

/** LoRA slots and the load time of one adapter: its BF16 weights at `max_lora_rank` over the host link, plus the fixed overhead. */
function loraConfig(model: Model, e: EngineOverrides): LoraConfig {
  const d = DEFAULTS.engine.lora;
  const bytes = loraAdapterBytes(model, e.max_lora_rank ?? d.maxLoraRank);
  return { maxLoras: e.max_loras ?? 1, loadSeconds: bytes / ((e.lora_load_gbps ?? d.hostLinkGbps) * 1e9) + (e.lora_load_overhead_ms ?? d.loadOverheadMs) / 1e3 };
}

/**
 * Resolves a worker's deployment: shipped profile for (model, GPU, TP) if there is one, else the
 * hardware and model facts with the calibrated coefficients; then the spec's own overrides.
 */
export function resolveDeployment(spec: DeploymentSpec): Deployment {
  const where = spec.where ?? 'fleet';
  let base: DeploymentFile | undefined;
  let source: string;
  if (spec.profile) {
    const loaded = loadDeploymentFile(spec.profile);
    base = loaded.file;
    source = loaded.path;
  } else {
    const name = deploymentName(spec.model ?? DEFAULTS.model, spec.gpu ?? '', spec.tp ?? 1);
    const s = shippedDeployments().get(name);
    base = s?.file;
    source = s ? s.path : 'derived from hardware and model facts with the calibrated coefficients';
  }
  const gpuId = spec.gpu ?? base?.gpu;
  if (!gpuId) throw new UserError(`${where}: gpu: required`);
  const gpu = getGpu(gpuId, `${where}: gpu`);
  const model = getModel(spec.model ?? base?.model ?? DEFAULTS.model, `${where}: model`);
  const tp = spec.tp ?? base?.tp ?? 1;
  if (!Number.isInteger(tp) || tp < 1) throw new UserError(`${where}: tp: expected a positive integer, got ${tp}`);
  const coefficients: Coefficients = { ...calibratedCoefficients(gpu), ...(base?.coefficients ?? {}) };
  const e: EngineOverrides = { ...(base?.engine ?? {}), ...(spec.engine ?? {}) };
  const d = DEFAULTS.engine;
  const blockSize = e.block_size ?? d.blockSize;
  const util = e.gpu_memory_utilization ?? d.gpuMemoryUtilization;
  let kvBlocksSource: Deployment['kvBlocksSource'] = 'derived';
  let numGpuBlocks: number;
  if (spec.engine?.num_gpu_blocks !== undefined) {
    numGpuBlocks = spec.engine.num_gpu_blocks;
    kvBlocksSource = 'override';
  } else if (base?.engine?.num_gpu_blocks !== undefined && (base.engine.block_size ?? d.blockSize) === blockSize && spec.engine?.gpu_memory_utilization === undefined) {
    numGpuBlocks = base.engine.num_gpu_blocks;
    kvBlocksSource = 'profile';
  } else {
    numGpuBlocks = deriveNumGpuBlocks(gpu, model, tp, util, blockSize, coefficients);
  }
  if (numGpuBlocks <= 0) {
    throw new UserError(`${where}: ${model.id} on ${tp}x ${gpu.id} leaves no memory for the KV cache (weights ${(model.params_b * 2 / tp).toFixed(1)} GB per GPU, ${gpu.memory_gib} GiB GPU); use more TP or a larger GPU`);
  }
  const engine: EngineConfig = {
    maxNumSeqs: e.max_num_seqs ?? d.maxNumSeqs,
    maxNumBatchedTokens: e.max_num_batched_tokens ?? (gpu.memory_gib >= d.largeGpuGib ? d.maxNumBatchedTokensLargeGpu : d.maxNumBatchedTokensSmallGpu),
    blockSize,
    numGpuBlocks,
    gpuMemoryUtilization: util,
    enablePrefixCaching: e.enable_prefix_caching ?? d.enablePrefixCaching,
    reserveFullPrompt: e.reserve_full_prompt ?? d.reserveFullPrompt,
    ...(e.max_loras !== undefined ? { lora: loraConfig(model, e) } : {}),
  };
  return {
    name: base?.name ?? deploymentName(model.id, gpu.id, tp),
    gpu,
    model,
    tp,
    costUsdPerHour: spec.cost_usd_per_hour ?? base?.cost_usd_per_hour ?? gpu.cost_usd_per_hour * tp,
    coefficients,
    engine,
    source,
    kvBlocksSource,
    ...(base?.aibrix !== undefined ? { aibrix: parseModelGpuProfile(base.aibrix, `${source}: aibrix`) } : {}),
    // Tables measured at one TP degree do not price another.
    ...(base?.operators !== undefined && (base.tp ?? 1) === tp && (base.model ?? DEFAULTS.model) === model.id ? { operators: parseOperatorTables(base.operators, `${source}: operators`) } : {}),
  };
}
