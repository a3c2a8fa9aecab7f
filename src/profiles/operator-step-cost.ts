import type { StepCost, StepShape } from '../engine/step-cost.js';
import type { Deployment } from './types.js';
import { AttentionGrid, denseSeries, sumOps, type OperatorTablesJson } from './operator-tables.js';
import { AllReduceCost, type AllReduceTable } from './collectives.js';
import { effectivePeaks } from './effective-peaks.js';

/**
 * Prices a step from measured operator tables (see OperatorTablesJson), the way Vidur and
 * LLMServingSim do, with every table turned into an array lookup up front:
 *
 *   t = L·(per_layer(tokens) + attention(step) + 2·allreduce(tokens·hidden·2 B))
 *     + once(tokens) + per_sequence(seqs)
 *
 * - per_layer/once/per_sequence are precomputed for every integer count up to the engine's
 *   limits (piecewise-linear between measured counts).
 * - attention of a step with one prefill chunk is the 4-D grid lookup (chunk, its cached KV,
 *   decodes, their mean KV). With m > 1 chunks the step runs one varlen kernel over all of them:
 *   the mean chunk is looked up with the decodes, and each further chunk adds its own prefill-only
 *   time minus the launch floor it does not pay again.
 * - A class the tables lack (Vidur has no attention, LM head or sampler tables) is priced by the
 *   roofline with the deployment's coefficients, so a partly measured profile still works.
 * - TP collectives: measured NCCL table for this GPU × TP where one exists, else the PCIe/NVLink
 *   ring model (collectives.ts).
 * No CPU overhead is added: the ground-truth engine runs CUDA graphs with async scheduling, which
 * hides the scheduler behind the GPU (docs/speed-model.md).
 */
export class OperatorTableStepCost implements StepCost {
  private readonly layers: number;
  private readonly perLayer: Float64Array;
  private readonly once: Float64Array;
  private readonly perSeq: Float64Array;
  private readonly comm: Float64Array;
  private readonly attention: AttentionGrid | undefined;
  private readonly maxTokens: number;
  private readonly maxSeqs: number;
  private readonly tables: OperatorTablesJson;
  private readonly allReduce: AllReduceCost;
  private readonly hidden: number;
  /** Roofline fallbacks, seconds. */
  private readonly kvTimePerToken: number;
  private readonly attnSecondsPerPair: number;
  private readonly lmHeadWeightS: number;
  private readonly lmHeadFlopsS: number;
  private readonly stepOverheadUs: number;
  private readonly perSeqOverheadUs: number;
  readonly describe: { perLayer: string; attention: string; perSequence: string; collectives: string };

  constructor(d: Deployment, tables: OperatorTablesJson, collectives: readonly AllReduceTable[]) {
    this.tables = tables;
    const m = d.model;
    const c = d.coefficients;
    this.layers = m.num_layers;
    this.hidden = m.hidden_size;
    this.maxTokens = Math.max(d.engine.maxNumBatchedTokens + d.engine.maxNumSeqs, 1);
    this.maxSeqs = Math.max(d.engine.maxNumSeqs, 1);
    this.perLayer = denseSeries(tables.per_layer.tokens, sumOps(tables.per_layer.ops), this.maxTokens);
    this.once = tables.once ? denseSeries(tables.once.tokens, sumOps(tables.once.ops), this.maxTokens) : new Float64Array(this.maxTokens + 1);
    const tp = d.tp;
    const e = effectivePeaks(d.gpu);
    const peak = e.tflops * 1e12 * tp;
    const bw = e.bandwidthGbps * 1e9 * tp * c.bandwidth_efficiency;
    this.kvTimePerToken = m.kv_cache_bytes_per_token_bf16 / bw;
    this.attnSecondsPerPair = (4 * m.num_layers * m.num_attention_heads * m.head_dim) / (peak * c.attn_efficiency);
    this.lmHeadWeightS = (m.vocab_size * m.hidden_size * 2) / bw;
    this.lmHeadFlopsS = (2 * m.vocab_size * m.hidden_size) / (peak * c.gemm_efficiency);
    this.stepOverheadUs = c.step_overhead_ms * 1e3;
    this.perSeqOverheadUs = c.per_seq_overhead_us;
    if (tables.per_sequence) {
      this.perSeq = denseSeries(tables.per_sequence.seqs, sumOps(tables.per_sequence.ops), this.maxSeqs);
    } else {
      this.perSeq = new Float64Array(this.maxSeqs + 1);
      // LM head by the roofline, sampling by the fitted per-step and per-sequence overheads.
      for (let s = 1; s <= this.maxSeqs; s++) this.perSeq[s] = this.lmHeadUs(s) + this.samplingUs(s);
    }
    this.attention = tables.attention ? new AttentionGrid(tables.attention, this.maxSeqs) : undefined;
    const own: AllReduceTable[] = tables.allreduce ? [{ gpu: d.gpu.id, tp, link: tables.allreduce.source, bytes: tables.allreduce.bytes, us: tables.allreduce.us }] : [];
    this.allReduce = new AllReduceCost(d.gpu, tp, [...own, ...collectives]);
    this.comm = new Float64Array(this.maxTokens + 1);
    if (tp > 1) for (let t = 1; t <= this.maxTokens; t++) this.comm[t] = 2 * this.allReduce.seconds(t * this.hidden * 2) * 1e6;
    this.describe = {
      perLayer: `measured (${tables.origin}: ${Object.keys(tables.per_layer.ops).join(', ')}${tables.once ? `; once per step: ${Object.keys(tables.once.ops).join(', ')}` : ''})`,
      attention: this.attention ? `measured (${tables.origin} grid)` : `roofline (no attention table in ${tables.origin} data)`,
      perSequence: tables.per_sequence ? `measured (${Object.keys(tables.per_sequence.ops).join(', ')})` : 'roofline LM head (no per-sequence table)',
      collectives: this.allReduce.source,
    };
  }

  private samplingUs(seqs: number): number {
    return this.stepOverheadUs + this.perSeqOverheadUs * seqs;
  }

  private lmHeadUs(seqs: number): number {
    return Math.max(this.lmHeadFlopsS * seqs, this.lmHeadWeightS) * 1e6;
  }

  private tokenUs(tokens: number): number {
    if (tokens <= this.maxTokens) return this.layers * (this.perLayer[tokens] + this.comm[tokens]) + this.once[tokens];
    // Beyond the precomputed range (a profile used with a larger token budget): same series, computed.
    const t = this.tables;
    const per = sumAt(t.per_layer.tokens, t.per_layer.ops, tokens);
    const once = t.once ? sumAt(t.once.tokens, t.once.ops, tokens) : 0;
    return this.layers * (per + 2 * this.allReduce.seconds(tokens * this.hidden * 2) * 1e6) + once;
  }

  private seqUs(seqs: number): number {
    if (seqs <= this.maxSeqs) return this.perSeq[seqs];
    const t = this.tables;
    return t.per_sequence ? sumAt(t.per_sequence.seqs, t.per_sequence.ops, seqs) : this.lmHeadUs(seqs) + this.samplingUs(seqs);
  }

  private decodeAttnUs(n: number, kv: number): number {
    if (n === 0) return 0;
    if (this.attention) return this.layers * this.attention.decodeUs(n, kv / n);
    return this.kvTimePerToken * kv * 1e6;
  }

  seconds(s: StepShape): number {
    if (s.prefillKvTokens === 0) return this.decodeSeconds(s.seqs, s.decodeKvTokens);
    const chunks = Math.max(1, s.prefillChunks ?? 1);
    const nDecode = s.seqs - chunks;
    const prefillTokens = s.tokens - nDecode;
    let attn: number;
    if (this.attention) {
      const l = prefillTokens / chunks;
      const ctx = (s.prefillKvTokens - prefillTokens) / chunks;
      const kvd = nDecode > 0 ? s.decodeKvTokens / nDecode : 0;
      attn = this.attention.lookup(l, ctx, nDecode, kvd);
      if (chunks > 1) attn += (chunks - 1) * Math.max(0, this.attention.lookup(l, ctx, 0, 0) - this.attention.floorUs);
      attn *= this.layers;
    } else {
      attn = (Math.max(this.attnSecondsPerPair * s.prefillAttnPairs, this.kvTimePerToken * s.prefillKvTokens) + this.kvTimePerToken * s.decodeKvTokens) * 1e6;
    }
    return (this.tokenUs(s.tokens) + attn + this.seqUs(s.seqs)) / 1e6;
  }

  decodeSeconds(seqs: number, decodeKvTokens: number): number {
    return (this.tokenUs(seqs) + this.decodeAttnUs(seqs, decodeKvTokens) + this.seqUs(seqs)) / 1e6;
  }
}

function sumAt(xs: number[], ops: Record<string, number[]>, x: number): number {
  const ys = sumOps(ops);
  // Linear continuation of the last measured segment.
  const n = xs.length;
  if (n === 1) return ys[0];
  const i = x >= xs[n - 1] ? n - 2 : xs.findIndex((v, k) => k < n - 1 && x < xs[k + 1]);
  return ys[i] + ((x - xs[i]) / (xs[i + 1] - xs[i])) * (ys[i + 1] - ys[i]);
}
