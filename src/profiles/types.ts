import type { EngineConfig } from '../engine/config.js';
import type { ModelGpuProfileJson } from './aibrix-format.js';
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
  /**
   * The boost clock the datasheet tensor peak is quoted at and the clock the GPU holds under a
   * sustained dense GEMM, where they differ (GeForce boost); absent: it runs at its rated peak.
   */
  clock_ghz?: { rated_boost: number; sustained: number; source: string };
  /** In-band ECC on by default (GDDR datacenter parts): check bits take 1/16 of DRAM and bandwidth. */
  ecc?: { inband: boolean; source: string };
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
  /** Intermediate size of one expert (MoE models). */
  moe_intermediate_size?: number | null;
  sources: string[];
  notes: string;
}

/** The roofline's efficiencies and overheads (see docs/speed-model.md), fitted across GPUs on operator timings. */
export interface Coefficients {
  /** Fraction of peak tensor FLOPS a large GEMM reaches. */
  gemm_efficiency: number;
  /** Tokens at which a GEMM reaches half of that (small GEMMs cannot fill the tensor cores). */
  gemm_half_tokens: number;
  /** Fixed cost of one GEMM kernel, µs. */
  gemm_launch_us: number;
  /** Fraction of peak tensor FLOPS prefill attention reaches. */
  attn_efficiency: number;
  /** Fraction of peak memory bandwidth weight and KV reads reach. */
  bandwidth_efficiency: number;
  /** Fraction of peak memory bandwidth elementwise kernels (norms, rotary, activation) reach. */
  elementwise_efficiency: number;
  /** Fixed cost of one elementwise kernel, µs. */
  elementwise_launch_us: number;
  /** Fixed cost of one engine step (sampling setup), ms. */
  step_overhead_ms: number;
  /** Extra cost per sequence in the batch (sampling), µs. */
  per_seq_overhead_us: number;
  /** Memory vLLM keeps for activations, CUDA graphs and the allocator, GiB per GPU. */
  activation_reserve_gib: number;
}

// The engine owns its settings; a deployment carries them.
export type { EngineConfig };

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
