import { usableMemoryBytes } from './effective-peaks.js';
import type { StepShape } from '../engine/step-cost.js';
import { RooflineStepCost } from './roofline.js';
import type { Coefficients, Gpu, Model } from './types.js';

/**
 * Fitting a deployment's roofline coefficients (src/profiles/roofline.ts) to latencies measured
 * at a live endpoint. With x = (1/η_gemm, 1/η_attn, 1/μ, κ_0, κ_seq) the step time is linear in
 * x once it is known which side of each `max` binds, so the fit is a weighted linear least
 * squares, repeated until the binding sides stop changing. Each row is weighted by the inverse of
 * its expected error: the client's timing noise (HTTP, scheduling) on one request's TTFT, but
 * spread over the many steps of a decode window, plus a small relative floor.
 */

/** One request alone on an idle engine; `cachedTokens` of its prompt were prefix-cache hits. */
export interface PrefillObservation {
  inputTokens: number;
  cachedTokens: number;
  /** Client-side time to first token, seconds. */
  ttftS: number;
}

/** Steps of a pure-decode batch of constant size, timed at the client between two tokens. */
export interface DecodeObservation {
  seqs: number;
  /** Σ context over the batch, averaged over the timed steps. */
  meanKvTokens: number;
  /** Mean step time, seconds. */
  stepS: number;
  steps: number;
}

export interface FitResult {
  coefficients: Coefficients;
  /**
   * Client-observed time before the engine sees a request (HTTP, parsing, tokenising), seconds:
   * a fixed part and a part per prompt token. Not part of the profile: the simulator has no HTTP.
   */
  transportS: number;
  transportPerTokenS: number;
  /** Root-mean-square relative error of the fitted model over all observations. */
  rmsRelError: number;
  observations: number;
  /** Observations more than twice their expected error away from the fit (down-weighted); rms excludes them. */
  outliers: number;
  iterations: number;
}

const N_PARAMS = 7;
/** Residuals beyond this many expected errors get weight k/|z| (Huber). */
const HUBER_K = 2;

/**
 * The roofline's terms for one GPU × model × TP, from `RooflineStepCost.terms` itself, so the fit
 * prices steps exactly as the engine does.
 */
class Roofline {
  private readonly cost: RooflineStepCost;
  private readonly out: [number, number, number] = [0, 0, 0];

  constructor(gpu: Gpu, model: Model, tp: number, prior: Coefficients) {
    this.cost = new RooflineStepCost(gpu, model, tp, prior);
  }

  /** Adds one step's design row (coefficients of x) to `row`; returns its known constant part. */
  addStep(s: StepShape, x: number[], row: number[]): number {
    const known = this.cost.terms(s, [x[0], x[1], x[2]], this.out);
    row[0] += this.out[0];
    row[1] += this.out[1];
    row[2] += this.out[2];
    row[3] += 1;
    row[4] += s.seqs;
    return known;
  }
}

/** The steps of a lone prefill of `input` tokens of which `cached` hit the cache, chunked by `budget`. */
export function prefillSteps(input: number, cached: number, budget: number): StepShape[] {
  const steps: StepShape[] = [];
  let c = cached;
  while (c < input) {
    const l = Math.min(budget, input - c);
    steps.push({ tokens: l, seqs: 1, prefillAttnPairs: l * (c + l / 2), prefillKvTokens: c + l, decodeKvTokens: 0 });
    c += l;
  }
  return steps;
}

function toX(c: Coefficients): number[] {
  return [1 / c.gemm_efficiency, 1 / c.attn_efficiency, 1 / c.bandwidth_efficiency, c.step_overhead_ms / 1e3, c.per_seq_overhead_us / 1e6, 0.002, 0];
}

/** Solves the square system A x = b by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const d = m[c][c];
    if (Math.abs(d) < 1e-300) throw new Error('singular system');
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / d;
      if (f !== 0) for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((r, i) => r[n] / r[i]);
}

export interface FitInput {
  gpu: Gpu;
  model: Model;
  tp: number;
  /** Chunked-prefill budget of the endpoint (vLLM max_num_batched_tokens). */
  maxNumBatchedTokens: number;
  /** Starting point and weak prior; also supplies the coefficients not fitted here. */
  prior: Coefficients;
  prefill: PrefillObservation[];
  decode: DecodeObservation[];
  /** Timing noise of one client-side timestamp, in the endpoint's seconds (scaled by any speedup). */
  noiseS: number;
}

export function fitCoefficients(inp: FitInput): FitResult {
  const rl = new Roofline(inp.gpu, inp.model, inp.tp, inp.prior);
  const prior = toX(inp.prior);
  let x = prior.slice();
  const rowsFor = (xv: number[]): { rows: number[][]; obs: number[]; known: number[]; sigma: number[] } => {
    const rows: number[][] = [];
    const obs: number[] = [];
    const known: number[] = [];
    const sigma: number[] = [];
    for (const p of inp.prefill) {
      const row = new Array<number>(N_PARAMS).fill(0);
      let k = 0;
      for (const s of prefillSteps(p.inputTokens, p.cachedTokens, inp.maxNumBatchedTokens)) k += rl.addStep(s, xv, row);
      row[5] = 1;
      row[6] = p.inputTokens;
      rows.push(row);
      obs.push(p.ttftS);
      known.push(k);
      sigma.push(inp.noiseS + 0.002 * p.ttftS);
    }
    for (const d of inp.decode) {
      const row = new Array<number>(N_PARAMS).fill(0);
      const k = rl.addStep({ tokens: d.seqs, seqs: d.seqs, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: d.meanKvTokens }, xv, row);
      rows.push(row);
      obs.push(d.stepS);
      known.push(k);
      sigma.push((2 * inp.noiseS) / d.steps + 0.001 * d.stepS);
    }
    return { rows, obs, known, sigma };
  };
  // Iteratively reweighted least squares: a row far outside its expected error (a stalled
  // client, a starved stream) is down-weighted (Huber), so it cannot drag the others along.
  let robust = new Array<number>(inp.prefill.length + inp.decode.length).fill(1);
  let iterations = 0;
  let prev = x.map(() => NaN);
  for (; iterations < 100; iterations++) {
    const { rows, obs, known, sigma } = rowsFor(x);
    const ata = Array.from({ length: N_PARAMS }, () => new Array<number>(N_PARAMS).fill(0));
    const atb = new Array<number>(N_PARAMS).fill(0);
    rows.forEach((r, i) => {
      const w = robust[i] / sigma[i];
      const y = (obs[i] - known[i]) * w;
      for (let a = 0; a < N_PARAMS; a++) {
        atb[a] += r[a] * w * y;
        for (let b = 0; b < N_PARAMS; b++) ata[a][b] += r[a] * w * r[b] * w;
      }
    });
    // A weak pull toward the prior keeps parameters the sweep could not excite (say attention
    // efficiency when no prompt was long enough) at the prior instead of making A singular.
    const scale = [prior[0], prior[1], prior[2], 1e-3, 1e-5, 1e-3, 1e-6];
    for (let a = 0; a < N_PARAMS; a++) {
      const lam = 1e-4 / (scale[a] * scale[a]);
      ata[a][a] += lam;
      atb[a] += lam * prior[a];
    }
    x = solve(ata, atb);
    robust = rows.map((r, i) => {
      const z = Math.abs(known[i] + r.reduce((acc, v, j) => acc + v * x[j], 0) - obs[i]) / sigma[i];
      return z <= HUBER_K ? 1 : HUBER_K / z;
    });
    if (x.every((v, j) => Math.abs(v - prev[j]) <= 1e-7 * Math.abs(v) + 1e-15)) break;
    prev = x;
  }
  const { rows, obs, known } = rowsFor(x);
  let sq = 0;
  let used = 0;
  rows.forEach((r, i) => {
    if (robust[i] < 0.5) return;
    used++;
    const pred = known[i] + r.reduce((s, v, j) => s + v * x[j], 0);
    sq += ((pred - obs[i]) / obs[i]) ** 2;
  });
  const round = (v: number, digits: number): number => Number(v.toPrecision(digits));
  return {
    coefficients: {
      ...inp.prior,
      gemm_efficiency: round(1 / x[0], 4),
      attn_efficiency: round(1 / x[1], 4),
      bandwidth_efficiency: round(1 / x[2], 4),
      step_overhead_ms: round(x[3] * 1e3, 4),
      per_seq_overhead_us: round(x[4] * 1e6, 4),
    },
    transportS: x[5],
    transportPerTokenS: x[6],
    rmsRelError: Math.sqrt(sq / Math.max(1, used)),
    observations: rows.length,
    outliers: rows.length - used,
    iterations,
  };
}

/**
 * The activation reserve that makes `deriveNumGpuBlocks` give the block count the endpoint
 * reports, so a measured profile resized for another memory utilisation stays consistent.
 */
export function reserveForBlocks(gpu: Gpu, model: Model, tp: number, util: number, blockSize: number, numGpuBlocks: number): number {
  const perGpu = usableMemoryBytes(gpu) * util - (model.params_b * 1e9 * 2) / tp;
  const blockBytes = (model.kv_cache_bytes_per_token_bf16 / tp) * blockSize;
  return Math.max(0, (perGpu - numGpuBlocks * blockBytes) / 2 ** 30);
}
