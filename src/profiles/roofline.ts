import type { StepCost, StepShape } from '../engine/step-cost.js';
import type { Coefficients, Gpu, Model } from './types.js';
import { AllReduceCost, type AllReduceTable } from './collectives.js';

/**
 * Step time of one forward pass (see docs/architecture.md):
 *   linear  = max(2·N_gemm·tokens / (P·η_gemm), weight_bytes / (BW·μ))      one GEMM pass over all tokens
 *   attn_pf = max(4·L·d_attn·pairs / (P·η_attn), kv_bytes·kv_read / (BW·μ))   causal prefill attention
 *   attn_dc = kv_bytes·Σ context / (BW·μ)                                      decode attention (memory-bound)
 *   comm    = 2·L·allreduce(tokens·hidden·2 B)      only with TP > 1 (measured NCCL table or PCIe/NVLink ring model)
 *   t       = linear + attn_pf + attn_dc + comm + κ_0 + κ_seq·seqs
 * A prefix-cache hit lowers `tokens` but the cached context is still read by attention.
 */
export class RooflineStepCost implements StepCost {
  // Public (read-only) so `profile measure` can fit the coefficients against the very same terms.
  readonly gemmFlopsPerToken: number;
  readonly lmHeadFlopsPerSeq: number;
  readonly flopsRate: number;
  readonly attnFlopsPerPair: number;
  readonly attnRate: number;
  readonly weightTime: number;
  readonly kvTimePerToken: number;
  private readonly overhead: number;
  private readonly perSeq: number;
  private readonly allReduce: AllReduceCost;
  private readonly commLayers: number;
  private readonly hidden: number;

  constructor(gpu: Gpu, model: Model, tp: number, c: Coefficients, collectives: readonly AllReduceTable[] = []) {
    const n = model.active_params_b * 1e9;
    const vocabRows = model.vocab_size * model.hidden_size;
    // The embedding table is gathered, not multiplied; the LM head runs once per sequence.
    const lmHead = vocabRows;
    const gemmParams = n - vocabRows - (model.tie_word_embeddings ? 0 : lmHead);
    this.gemmFlopsPerToken = 2 * gemmParams;
    this.lmHeadFlopsPerSeq = 2 * lmHead;
    const peak = gpu.bf16_dense_tflops * 1e12 * tp;
    const bw = gpu.memory_bandwidth_gbps * 1e9 * tp;
    this.flopsRate = peak * c.gemm_efficiency;
    this.attnFlopsPerPair = 4 * model.num_layers * model.num_attention_heads * model.head_dim;
    this.attnRate = peak * c.attn_efficiency;
    const streamedBytes = (n - (model.tie_word_embeddings ? 0 : vocabRows)) * 2;
    this.weightTime = streamedBytes / (bw * c.bandwidth_efficiency);
    this.kvTimePerToken = model.kv_cache_bytes_per_token_bf16 / (bw * c.bandwidth_efficiency);
    this.overhead = c.step_overhead_ms / 1e3;
    this.perSeq = c.per_seq_overhead_us / 1e6;
    this.allReduce = new AllReduceCost(gpu, tp, collectives);
    this.commLayers = tp > 1 ? 2 * model.num_layers : 0;
    this.hidden = model.hidden_size;
  }

  /** TP communication of a step with `tokens` new tokens: two all-reduces of the activations per layer. */
  commSeconds(tokens: number): number {
    return this.commLayers === 0 ? 0 : this.commLayers * this.allReduce.seconds(tokens * this.hidden * 2);
  }

  seconds(s: StepShape): number {
    const linear = Math.max((this.gemmFlopsPerToken * s.tokens + this.lmHeadFlopsPerSeq * s.seqs) / this.flopsRate, this.weightTime);
    const attnPf = Math.max((this.attnFlopsPerPair * s.prefillAttnPairs) / this.attnRate, this.kvTimePerToken * s.prefillKvTokens);
    return linear + attnPf + this.kvTimePerToken * s.decodeKvTokens + this.fixed(s.tokens, s.seqs);
  }

  decodeSeconds(seqs: number, decodeKvTokens: number): number {
    const linear = Math.max((this.gemmFlopsPerToken * seqs + this.lmHeadFlopsPerSeq * seqs) / this.flopsRate, this.weightTime);
    return linear + 0 + this.kvTimePerToken * decodeKvTokens + this.fixed(seqs, seqs);
  }

  private fixed(tokens: number, seqs: number): number {
    return this.commSeconds(tokens) + this.overhead + this.perSeq * seqs;
  }
}
