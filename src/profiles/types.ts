import type { ModelGpuProfileJson } from '../routing/slo/profile.js';
import type { OperatorTablesJson } from './operator-tables.js';
/** GPU facts (profiles/hardware.json). */
export interface Gpu {
  id: string;
  name: string;
  memory_gib: number;
  memory_bandwidth_gbps: number;
  bf16_dense_tflops: number;
  interconnect_gbps: number;
  interconnect_type: string;
  cost_usd_per_hour: number;
  cost_note: string;
  sources: string[];
  notes: string;
}

/** Model facts (profiles/models.json). */
export interface Model {
  id: string;
  hf_name: string;
  params_b: number;
  active_params_b: number;
  num_layers: number;
  hidden_size: number;
  num_attention_heads: number;
  num_kv_heads: number;
  head_dim: number;
  intermediate_size: number;
  vocab_size: number;
  max_position_embeddings: number;
  kv_cache_bytes_per_token_bf16: number;
  tie_word_embeddings: boolean;
  num_experts: number | null;
  experts_per_token: number | null;
  sources: string[];
  notes: string;
}

/** Fitted corrections to the roofline (see docs/architecture.md, "Step time"). */
export interface Coefficients {
  /** Fraction of peak tensor FLOPS the linear layers reach. */
  gemm_efficiency: number;
  /** Fraction of peak tensor FLOPS prefill attention reaches. */
  attn_efficiency: number;
  /** Fraction of peak memory bandwidth weight and KV reads reach. */
  bandwidth_efficiency: number;
  /** Fixed cost of one engine step (scheduling, launch, sampling), ms. */
  step_overhead_ms: number;
  /** Extra cost per sequence in the batch, µs. */
  per_seq_overhead_us: number;
  /** Latency of one tensor-parallel all-reduce, µs (two per layer). */
  allreduce_latency_us: number;
  /** Memory vLLM keeps for activations, CUDA graphs and the allocator, GiB per GPU. */
  activation_reserve_gib: number;
}

/** Engine settings of one worker, as vLLM names them (snake_case in files). */
export interface EngineConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  blockSize: number;
  numGpuBlocks: number;
  gpuMemoryUtilization: number;
  enablePrefixCaching: boolean;
  reserveFullPrompt: boolean;
}

/** One deployment: GPU × model × TP × engine settings, with its speed coefficients and cost. */
export interface Deployment {
  name: string;
  gpu: Gpu;
  model: Model;
  tp: number;
  costUsdPerHour: number;
  coefficients: Coefficients;
  engine: EngineConfig;
  /** Where the numbers came from (file, fit, derivation). */
  source: string;
  /** How `numGpuBlocks` was obtained. */
  kvBlocksSource: 'profile' | 'override' | 'derived';
  /** AIBrix SLO tables attached by `profile import-aibrix` (read by the slo* policies). */
  aibrix?: ModelGpuProfileJson;
  /** Measured operator tables (`profile import`): steps are priced from them instead of the roofline. */
  operators?: OperatorTablesJson;
}
