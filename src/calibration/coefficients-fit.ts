import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Architecture } from '../profiles/architecture.js';
import type { Coefficients } from '../profiles/types.js';
import { getGpu, getModel } from '../profiles/catalog.js';
import { readCsv, column, num } from '../profiles/import/csv-table.js';
import { reserveForBlocks } from '../profiles/measure.js';
import { effectivePeaks } from '../profiles/effective-peaks.js';
import { fitAcrossGpus, leaveOneGpuOut, modelFor, type LooRow, type OperatorModel } from './cross-gpu-fit.js';
import { loadOperatorDataset } from './operator-data.js';
import { UserError } from '../util/errors.js';

/** profiles/coefficients.json */
export interface CoefficientsFile {
  _about: string;
  coefficients: Coefficients;
  by_architecture: Partial<Record<Architecture, Partial<Coefficients>>>;
  fit: { gpus: string[]; sources: string[]; observations: number; leave_one_gpu_out: { gpu: string; arch: string; predicted_with: string; gemm_median_err: number; elementwise_median_err: number; step_median_err: number; step_mean_err: number; steps: number; decode_step_median_err: number; prefill_step_median_err: number }[] };
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}

function roundModel(p: OperatorModel): OperatorModel {
  const out = { ...p };
  for (const k of Object.keys(out) as (keyof OperatorModel)[]) out[k] = round(out[k]);
  return out;
}

/**
 * Attention and sampling coefficients from the one GPU with attention and sampler tables (the
 * RTX 4090 LLMServingSim profile): prefill attention efficiency = median achieved FLOPS / effective peak over
 * the compute-bound prefill-only points (chunk ≥ 512); sampling = least-squares line of the sampler
 * time over sequences. Operator data, not the end-to-end run.
 */
function attentionAndSampling(root: string): { attn_efficiency: number; step_overhead_ms: number; per_seq_overhead_us: number } {
  const dir = join(root, 'llmservingsim', 'rtx4090', 'Llama-3.1-8B', 'tp1');
  const gpu = getGpu('rtx-4090');
  const model = getModel('llama-3.1-8b');
  const q = model.num_attention_heads * model.head_dim;
  const a = readCsv(join(dir, 'attention.csv'));
  const [cl, cc, cn, ct] = ['prefill_chunk', 'kv_prefill', 'n_decode', 'time_us'].map((n) => column(a, n));
  const eff: number[] = [];
  for (let r = 0; r < a.rows.length; r++) {
    const l = num(a, r, cl);
    if (l < 512 || num(a, r, cn) !== 0) continue;
    const pairs = l * (num(a, r, cc) + l / 2);
    eff.push((4 * q * pairs) / (num(a, r, ct) * 1e-6) / (effectivePeaks(gpu).tflops * 1e12));
  }
  eff.sort((x, y) => x - y);
  const s = readCsv(join(dir, 'per_sequence.csv'));
  const [sl, ss, st] = ['layer', 'sequences', 'time_us'].map((n) => column(s, n));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let r = 0; r < s.rows.length; r++) {
    if (s.rows[r][sl].trim() !== 'sampler') continue;
    xs.push(num(s, r, ss));
    ys.push(num(s, r, st));
  }
  const mx = xs.reduce((p, v) => p + v, 0) / xs.length;
  const my = ys.reduce((p, v) => p + v, 0) / ys.length;
  const slope = xs.reduce((p, v, i) => p + (v - mx) * (ys[i] - my), 0) / xs.reduce((p, v) => p + (v - mx) ** 2, 0);
  return { attn_efficiency: round(eff[eff.length >> 1]), step_overhead_ms: round((my - slope * mx) / 1e3), per_seq_overhead_us: round(slope) };
}

/** The activation reserve that reproduces vLLM's measured KV block count on the 4090 (a memory figure, not a latency fit). */
function activationReserve(groundTruthMeta: string | undefined): number {
  if (!groundTruthMeta || !existsSync(groundTruthMeta)) return 1.6;
  return round(reserveForBlocks(getGpu('rtx-4090'), getModel('llama-3.1-8b'), 1, 0.9, 16, 2588));
}

export function looRows(root?: string): LooRow[] {
  return leaveOneGpuOut(loadOperatorDataset(root));
}

/** Fits every coefficient from operator data across all GPUs that have it (`npm run calibrate`). */
export function fitCoefficientsFile(root: string, groundTruthMeta?: string): CoefficientsFile {
  return fitCoefficients(root, groundTruthMeta).doc;
}

/** The coefficients file and the leave-one-GPU-out rows behind its summary. */
export function fitCoefficients(root: string, groundTruthMeta?: string): { doc: CoefficientsFile; loo: LooRow[] } {
  if (!existsSync(root)) throw new UserError(`${root}: operator profiles not found`);
  const data = loadOperatorDataset(root);
  const ids = data.gpus.map((g) => g.id);
  const fit = fitAcrossGpus(data, ids);
  const loo = leaveOneGpuOut(data);
  const rest = attentionAndSampling(root);
  const coefficients: Coefficients = { ...roundModel(fit.pooled), ...rest, activation_reserve_gib: activationReserve(groundTruthMeta) };
  const byArch: CoefficientsFile['by_architecture'] = {};
  for (const arch of Object.keys(fit.byArch) as Architecture[]) byArch[arch] = roundModel(modelFor(fit, arch));
  const doc: CoefficientsFile = {
    _about:
      'Roofline efficiencies and overheads for every deployment without measured operator tables, written by `npm run calibrate` (scripts/calibrate.ts). GEMM and elementwise parameters: fitted on the measured operator timings of all GPUs in shared/data/operator-profiles (Vidur A100/H100/A40, LLMServingSim RTX 4090), pooled, plus one set per architecture generation shrunk toward the pooled fit (generations without data use the pooled one). Efficiencies are relative to the effective peaks of each GPU (datasheet peak x sustained/rated boost clock where hardware.json records a GeForce boost; bandwidth x 15/16 with in-band ECC), src/profiles/effective-peaks.ts. Attention efficiency and sampling overheads: from the RTX 4090 attention/sampler tables. No value is fitted to an end-to-end run; the 4090 run is the validation (`router validate`). leave_one_gpu_out: each GPU predicted from a fit on the others (`router validate --cross`).',
    coefficients,
    by_architecture: byArch,
    fit: {
      gpus: ids,
      sources: data.sources,
      observations: data.obs.length,
      leave_one_gpu_out: loo.map((r) => ({ gpu: r.gpu, arch: r.arch, predicted_with: r.used, gemm_median_err: round(r.byClass.gemm.median), elementwise_median_err: round(r.byClass.elementwise.median), step_median_err: round(r.steps.median), step_mean_err: round(r.steps.mean), steps: r.steps.n, decode_step_median_err: round(r.decodeSteps.median), prefill_step_median_err: round(r.prefillSteps.median) })),
    },
  };
  return { doc, loo };
}
