import type { StepCost, StepShape } from '../engine/step-cost.js';
import type { Coefficients, Gpu, Model } from './types.js';
import { AllReduceCost, type AllReduceTable } from './collectives.js';
import { effectivePeaks } from './effective-peaks.js';

/** One weight matrix of a layer, as one GPU of the TP group holds it (N outputs × K inputs). */
interface Gemm {
  n: number;
  k: number;
  /** How many run per step (layers, or experts' worth of weights for MoE). */
  times: number;
}

/**
 * Step time of one forward pass, per operator (see docs/speed-model.md):
 *   gemm(M, N, K) = τ + max(2MNK / (P·η_c·M/(M+m½)), 2(NK + M(N+K)) / (BW·η_b))   per weight matrix, per GPU shard
 *   linear  = L·Σ gemm(tokens, layer matrices) + gemm(seqs, LM head) + elementwise(tokens)
 *   attn_pf = max(4·L·d_attn·pairs / (P·η_attn), kv_bytes·kv_read / (BW·η_b))   causal prefill attention
 *   attn_dc = kv_bytes·Σ context / (BW·η_b)                                       decode attention (memory-bound)
 *   comm    = 2·L·allreduce(tokens·hidden·2 B)      only with TP > 1 (measured NCCL table or PCIe/NVLink ring model)
 *   t       = linear + attn_pf + attn_dc + comm + κ_0 + κ_seq·seqs
 * P and BW are one GPU's effective peaks (src/profiles/effective-peaks.ts); the shapes are the TP shards. The efficiencies are fitted across all GPUs
 * with measured operator timings (scripts/calibrate.ts). A prefix-cache hit lowers `tokens` but
 * the cached context is still read by attention. MoE layers read the weights of the experts the
 * step's tokens route to (expertsTouched).
 */
export class RooflineStepCost implements StepCost {
  private readonly peak: number;
  private readonly bw: number;
  private readonly layerGemms: Gemm[];
  private readonly lmHead: Gemm;
  private readonly c: Coefficients;
  readonly attnFlopsPerPair: number;
  readonly kvBytesPerToken: number;
  private readonly ewBytesPerToken: number;
  private readonly ewFixedUs: number;
  private readonly gemmLaunchS: number;
  private readonly overhead: number;
  private readonly perSeq: number;
  private readonly allReduce: AllReduceCost;
  private readonly commLayers: number;
  private readonly hidden: number;
  private readonly moe: { experts: number; perToken: number; expertGemms: Gemm[] } | undefined;

  constructor(gpu: Gpu, model: Model, tp: number, c: Coefficients, collectives: readonly AllReduceTable[] = []) {
    this.c = c;
    const e = effectivePeaks(gpu);
    this.peak = e.tflops * 1e12;
    this.bw = e.bandwidthGbps * 1e9;
    const h = model.hidden_size;
    const L = model.num_layers;
    const q = model.num_attention_heads * model.head_dim;
    const kv = model.num_kv_heads * model.head_dim;
    this.layerGemms = [
      { n: (q + 2 * kv) / tp, k: h, times: L },
      { n: h, k: q / tp, times: L },
    ];
    if (model.num_experts && model.experts_per_token && model.moe_intermediate_size) {
      const e = model.moe_intermediate_size;
      // Router GEMM (hidden → experts) runs for every token; expert weights depend on routing.
      this.layerGemms.push({ n: model.num_experts, k: h, times: L });
      this.moe = { experts: model.num_experts, perToken: model.experts_per_token, expertGemms: [{ n: (2 * e) / tp, k: h, times: L }, { n: h, k: e / tp, times: L }] };
    } else {
      this.layerGemms.push({ n: (2 * model.intermediate_size) / tp, k: h, times: L }, { n: h, k: model.intermediate_size / tp, times: L });
    }
    this.lmHead = { n: model.vocab_size / tp, k: h, times: 1 };
    this.attnFlopsPerPair = (4 * L * q) / tp;
    this.kvBytesPerToken = model.kv_cache_bytes_per_token_bf16 / tp;
    // Norms (read + write h), rotary (q, k), activation (read 2I, write I), two residual adds (2 reads, 1 write).
    const inter = this.moe ? (model.moe_intermediate_size as number) * (model.experts_per_token as number) : model.intermediate_size;
    this.ewBytesPerToken = L * (2 * 4 * h + (4 * (q + kv)) / tp + (6 * inter) / tp + 2 * 6 * h) + 2 * 4 * h;
    this.ewFixedUs = (L * 6 + 2) * c.elementwise_launch_us;
    this.gemmLaunchS = (c.gemm_launch_us / 1e6) * (L * (this.layerGemms.length + (this.moe ? 2 : 0)) + 1);
    this.overhead = c.step_overhead_ms / 1e3;
    this.perSeq = c.per_seq_overhead_us / 1e6;
    this.allReduce = new AllReduceCost(gpu, tp, collectives);
    this.commLayers = tp > 1 ? 2 * L : 0;
    this.hidden = h;
  }

  /** Distinct experts a step's `tokens` touch in expectation (uniform routing): E·(1 − (1 − k/E)^tokens). */
  expertsTouched(tokens: number): number {
    const m = this.moe;
    if (!m) return 0;
    return m.experts * (1 - Math.pow(1 - m.perToken / m.experts, tokens));
  }

  /** TP communication of a step with `tokens` new tokens: two all-reduces of the activations per layer. */
  commSeconds(tokens: number): number {
    return this.commLayers === 0 ? 0 : this.commLayers * this.allReduce.seconds(tokens * this.hidden * 2);
  }

  /**
   * The step's terms at unit efficiencies, split by the efficiency that divides them (x = 1/η_c,
   * 1/η_attn, 1/η_b), with each max() resolved at the given x; the rest is returned as known.
   * `seconds` and `profile measure`'s fit both go through here, so they price steps alike.
   */
  terms(s: StepShape, x: readonly [number, number, number], out: [number, number, number]): number {
    const known = this.tokenTerms(s.tokens, x, out);
    this.shapeTerms(s, x, out);
    return known;
  }

  /**
   * The part of `terms` fixed by the step's token count m: `out` set to the layer (and expert)
   * GEMMs' sums, the known term returned. `shapeTerms` then adds the rest in `terms`' order.
   */
  private tokenTerms(m: number, x: readonly [number, number, number], out: [number, number, number]): number {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    const sat = m / (m + this.c.gemm_half_tokens);
    for (const g of this.layerGemms) this.gemm(m, sat, g, 1, x, out);
    const moe = this.moe;
    if (moe) {
      // Tokens spread over the experts they touch; each touched expert's weights are read once.
      const touched = this.expertsTouched(m);
      const mPer = touched > 0 ? (m * moe.perToken) / touched : 0;
      const satE = mPer / (mPer + this.c.gemm_half_tokens);
      for (const g of moe.expertGemms) this.gemm(mPer, satE, g, touched, x, out);
    }
    const ew = (this.ewBytesPerToken * m) / (this.bw * this.c.elementwise_efficiency) + this.ewFixedUs / 1e6;
    return this.gemmLaunchS + ew + this.commSeconds(m);
  }

  /** `terms` past the token-count part: the LM head (by sequences), prefill and decode attention. */
  private shapeTerms(s: StepShape, x: readonly [number, number, number], out: [number, number, number]): void {
    const seqs = s.seqs;
    this.gemm(seqs, seqs / (seqs + this.c.gemm_half_tokens), this.lmHead, 1, x, out);
    if (s.prefillKvTokens > 0) {
      const attn = (this.attnFlopsPerPair * s.prefillAttnPairs) / this.peak;
      const kv = (this.kvBytesPerToken * s.prefillKvTokens) / this.bw;
      if (attn * x[1] >= kv * x[2]) out[1] += attn;
      else out[2] += kv;
    }
    out[2] += (this.kvBytesPerToken * s.decodeKvTokens) / this.bw;
  }

  private gemm(m: number, sat: number, g: Gemm, copies: number, x: readonly [number, number, number], out: [number, number, number]): void {
    if (m <= 0) return;
    const compute = (2 * m * g.n * g.k * g.times * copies) / (this.peak * sat);
    const memory = (2 * (g.n * g.k * copies + m * (g.n + g.k)) * g.times) / this.bw;
    if (compute * x[0] >= memory * x[2]) out[0] += compute;
    else out[2] += memory;
  }

  private readonly x: [number, number, number] = [0, 0, 0];
  private readonly t: [number, number, number] = [0, 0, 0];

  seconds(s: StepShape): number {
    if (s.prefillKvTokens === 0 && s.tokens === s.seqs) return this.decodeSeconds(s.seqs, s.decodeKvTokens);
    return this.generalSeconds(s);
  }

  private generalSeconds(s: StepShape): number {
    const x = this.x;
    x[0] = 1 / this.c.gemm_efficiency;
    x[1] = 1 / this.c.attn_efficiency;
    x[2] = 1 / this.c.bandwidth_efficiency;
    const t = this.t;
    const m = s.tokens;
    let known: number;
    if (Number.isInteger(m) && m >= 0 && m <= 1 << 16) {
      // A mixed step's GEMMs are priced once per token count (the same sums, so the same bits).
      if (m >= this.tokenKnown.length) this.growTokenCache(m);
      const i = 3 * m;
      const p = this.tokenParts;
      if (this.tokenKnown[m] === 0) {
        known = this.tokenTerms(m, x, t);
        p[i] = t[0];
        p[i + 1] = t[2];
        p[i + 2] = known;
        this.tokenKnown[m] = 1;
      } else {
        t[0] = p[i];
        t[1] = 0;
        t[2] = p[i + 1];
        known = p[i + 2];
      }
      this.shapeTerms(s, x, t);
    } else known = this.terms(s, x, t);
    return t[0] * x[0] + t[1] * x[1] + t[2] * x[2] + known + this.overhead + this.perSeq * s.seqs;
  }

  /** Per token count m, `tokenTerms` at the efficiencies `generalSeconds` prices with: [out₀, out₂, known]. */
  private tokenParts = new Float64Array(0);
  private tokenKnown = new Uint8Array(0);

  private growTokenCache(m: number): void {
    const n = Math.max(m + 1, 2 * this.tokenKnown.length, 64);
    const parts = new Float64Array(3 * n);
    parts.set(this.tokenParts);
    const known = new Uint8Array(n);
    known.set(this.tokenKnown);
    this.tokenParts = parts;
    this.tokenKnown = known;
  }

  private readonly dshape: StepShape = { tokens: 0, seqs: 0, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: 0 };
  /**
   * Per batch size b, the parts of a pure-decode step's price that do not depend on its context:
   * [t₀·x₀ + t₁·x₁, the bandwidth term before decode attention, the known term]. Decode attention
   * only adds to the bandwidth term, so `decodeSeconds` finishes the same sums in the same order
   * as `generalSeconds` (bit-identical), without re-pricing every GEMM of every decode step.
   */
  private decodeParts = new Float64Array(0);
  private decodeKnown = new Uint8Array(0);

  decodeSeconds(seqs: number, decodeKvTokens: number): number {
    if (!Number.isInteger(seqs) || seqs < 0 || seqs > 1 << 16) return this.uncachedDecode(seqs, decodeKvTokens);
    const i = this.decodePartsAt(seqs);
    const p = this.decodeParts;
    const bwTerm = p[i + 1] + (this.kvBytesPerToken * decodeKvTokens) / this.bw;
    return p[i] + bwTerm * (1 / this.c.bandwidth_efficiency) + p[i + 2] + this.overhead + this.perSeq * seqs;
  }

  /**
   * A decode stretch's step ends (`StepCost.decodeEnds`): `decodeSeconds`' arithmetic with the
   * batch's parts loaded once, most of what pricing a stretch costs.
   */
  decodeEnds(seqs: number, decodeKvTokens: number, m: number, ends: Float64Array): number {
    let t = ends[0];
    let kv = decodeKvTokens;
    if (!Number.isInteger(seqs) || seqs < 0 || seqs > 1 << 16) {
      for (let j = 1; j <= m; j++) {
        t += this.uncachedDecode(seqs, kv);
        ends[j] = t;
        kv += seqs;
      }
      return t;
    }
    const i = this.decodePartsAt(seqs);
    const p = this.decodeParts;
    const fixed = p[i];
    const bwFixed = p[i + 1];
    const known = p[i + 2];
    const kvBytes = this.kvBytesPerToken;
    const bw = this.bw;
    const inv = 1 / this.c.bandwidth_efficiency;
    const overhead = this.overhead;
    const perSeq = this.perSeq * seqs;
    for (let j = 1; j <= m; j++) {
      const bwTerm = bwFixed + (kvBytes * kv) / bw;
      t += fixed + bwTerm * inv + known + overhead + perSeq;
      ends[j] = t;
      kv += seqs;
    }
    return t;
  }

  /** Where batch size `seqs`'s parts are in `decodeParts` (worked out on first use). */
  private decodePartsAt(seqs: number): number {
    if (seqs >= this.decodeKnown.length) this.growDecodeCache(seqs);
    const i = 3 * seqs;
    const p = this.decodeParts;
    if (this.decodeKnown[seqs] === 0) {
      const x = this.x;
      x[0] = 1 / this.c.gemm_efficiency;
      x[1] = 1 / this.c.attn_efficiency;
      x[2] = 1 / this.c.bandwidth_efficiency;
      const d = this.dshape;
      d.tokens = seqs;
      d.seqs = seqs;
      d.decodeKvTokens = 0;
      const t = this.t;
      const known = this.terms(d, x, t);
      p[i] = t[0] * x[0] + t[1] * x[1];
      p[i + 1] = t[2];
      p[i + 2] = known;
      this.decodeKnown[seqs] = 1;
    }
    return i;
  }

  private uncachedDecode(seqs: number, decodeKvTokens: number): number {
    const d = this.dshape;
    d.tokens = seqs;
    d.seqs = seqs;
    d.decodeKvTokens = decodeKvTokens;
    return this.generalSeconds(d);
  }

  private growDecodeCache(seqs: number): void {
    const n = Math.max(seqs + 1, 2 * this.decodeKnown.length, 64);
    const parts = new Float64Array(3 * n);
    parts.set(this.decodeParts);
    const known = new Uint8Array(n);
    known.set(this.decodeKnown);
    this.decodeParts = parts;
    this.decodeKnown = known;
  }
}
