import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { getGpu } from '../profiles/catalog.js';
import { effectivePeaks, type PeakFacts } from '../profiles/effective-peaks.js';
import { architectureOf, type Architecture } from '../profiles/architecture.js';
import { readVidurMlp } from '../profiles/import/vidur.js';
import { readCsv, column, num } from '../profiles/import/csv-table.js';
import { sharedDataDir } from '../workload/shared-data.js';
import { UserError } from '../util/errors.js';

/** The GPU facts the efficiency fit needs (a GPU measured in the data may not be in the catalog). */
export interface GpuFacts {
  id: string;
  name: string;
  memory_bandwidth_gbps: number;
  bf16_dense_tflops: number;
  /** The peaks the fitted efficiencies are relative to (src/profiles/effective-peaks.ts). */
  effective_tflops: number;
  effective_bandwidth_gbps: number;
  arch: Architecture;
}

function facts(id: string, name: string, g: PeakFacts, arch: Architecture): GpuFacts {
  const e = effectivePeaks(g);
  return { id, name, memory_bandwidth_gbps: g.memory_bandwidth_gbps, bf16_dense_tflops: g.bf16_dense_tflops, effective_tflops: e.tflops, effective_bandwidth_gbps: e.bandwidthGbps, arch };
}

/**
 * NVIDIA A40 datasheet (not a catalog GPU: no rental price on record), for fitting only: 48 GB
 * GDDR6, 696 GB/s, BF16 tensor 149.7 TFLOPS dense (84 SMs × 1024 FLOP/clk × 1.74 GHz boost), 300 W.
 * ECC on by default (datacenter GDDR6; nvidia-smi reports ~46068 MiB of 49152 MiB = 15/16), quoted
 * from memory, not re-verified this session.
 */
const A40: GpuFacts = facts('a40', 'NVIDIA A40', { memory_bandwidth_gbps: 696, bf16_dense_tflops: 149.7, ecc: { inband: true, source: 'see above' } }, 'ampere');

function catalogFacts(id: string): GpuFacts {
  const g = getGpu(id);
  return facts(g.id, g.name, g, architectureOf(g));
}

export type OpClass = 'gemm' | 'elementwise';

/** One measured operator call: its per-GPU shape and time. */
export interface OpObservation {
  gpu: string;
  op: string;
  cls: OpClass;
  /** GEMM: tokens × (N out, K in); elementwise: bytes moved. */
  m: number;
  n: number;
  k: number;
  bytes: number;
  us: number;
  /** Step this op belongs to (model, TP, tokens) and how often it runs in that step. */
  step: string;
  times: number;
}

export interface OperatorDataset {
  gpus: GpuFacts[];
  obs: OpObservation[];
  sources: string[];
}

interface Shape {
  h: number;
  nH: number;
  nKv: number;
  hd: number;
  inter: number;
  vocab: number;
  layers: number;
  tp: number;
}

/** Per-GPU shard shapes of the ops, and how many run per step (×layers for per-layer ops). */
function opShapes(s: Shape, m: number): Record<string, { cls: OpClass; n: number; k: number; bytes: number; times: number }> {
  const t = s.tp;
  const qkv = ((s.nH + 2 * s.nKv) * s.hd) / t;
  const L = s.layers;
  const ew = (bytes: number, times: number): { cls: OpClass; n: number; k: number; bytes: number; times: number } => ({ cls: 'elementwise', n: 0, k: 0, bytes, times });
  return {
    qkv_proj: { cls: 'gemm', n: qkv, k: s.h, bytes: 0, times: L },
    o_proj: { cls: 'gemm', n: s.h, k: (s.nH * s.hd) / t, bytes: 0, times: L },
    gate_up_proj: { cls: 'gemm', n: (2 * s.inter) / t, k: s.h, bytes: 0, times: L },
    down_proj: { cls: 'gemm', n: s.h, k: s.inter / t, bytes: 0, times: L },
    input_layernorm: ew(4 * m * s.h, L),
    post_attention_layernorm: ew(4 * m * s.h, L),
    rotary_emb: ew((4 * m * (s.nH + s.nKv) * s.hd) / t, L),
    act_fn: ew((6 * m * s.inter) / t, L),
    residual_add: ew(6 * m * s.h, 2 * L),
    embedding: ew(4 * m * s.h, 1),
    final_layernorm: ew(4 * m * s.h, 1),
  };
}

/** Elementwise bytes per token of one decoder layer (norms, rotary, activation, residual adds), per GPU shard. */
export function elementwiseBytesPerToken(s: Shape): { perLayer: number; perStep: number; kernelsPerLayer: number } {
  const o = opShapes(s, 1);
  let perLayer = 0;
  let kernels = 0;
  for (const v of Object.values(o)) {
    if (v.cls !== 'elementwise' || v.times === 1) continue;
    perLayer += (v.bytes * v.times) / s.layers;
    kernels += v.times / s.layers;
  }
  return { perLayer, perStep: o.embedding.bytes + o.final_layernorm.bytes, kernelsPerLayer: kernels };
}

const VIDUR_GPUS: Record<string, () => GpuFacts> = { a100: () => catalogFacts('a100-80g-sxm'), h100: () => catalogFacts('h100-sxm'), a40: () => A40 };
/** Layers of the Vidur models (the CSVs carry shard shapes, not depth). */
const VIDUR_LAYERS: Record<string, number> = { 'Llama-2-7b-hf': 32, 'Llama-2-70b-hf': 80, 'CodeLlama-34b-Instruct-hf': 48, 'Meta-Llama-3-8B': 32 };

/** Vidur's op names → ours (the table layout of src/profiles/import/vidur.ts). */
const VIDUR_OP: Record<string, string> = {
  input_layernorm: 'input_layernorm', attn_pre_proj: 'qkv_proj', attn_rope: 'rotary_emb', attn_post_proj: 'o_proj',
  post_attention_layernorm: 'post_attention_layernorm', mlp_up_proj: 'gate_up_proj', mlp_act: 'act_fn', mlp_down_proj: 'down_proj', add: 'residual_add', emb: 'embedding',
};

/**
 * Token counts the fit and the leave-one-out evaluation use: powers of two and their 1.5× (1, 2,
 * 3, 4, 6, 8, 12, …). The tables sample large counts far more densely than small ones; on this
 * grid decode-sized (memory-bound) and prefill-sized (compute-bound) steps weigh alike.
 */
export function onTokenGrid(m: number): boolean {
  const e = Math.log2(m);
  return Number.isInteger(e) || Number.isInteger(Math.log2(m / 3)) || m === 3;
}

/** Reads every GPU's operator timings under shared/data/operator-profiles. */
export function loadOperatorDataset(root = join(sharedDataDir() ?? '../shared/data', 'operator-profiles')): OperatorDataset {
  if (!existsSync(root)) throw new UserError(`${root}: operator profiles not found (shared/data/operator-profiles)`);
  const gpus = new Map<string, GpuFacts>();
  const obs: OpObservation[] = [];
  const sources: string[] = [];
  const vidur = join(root, 'vidur', 'compute');
  for (const dir of existsSync(vidur) ? readdirSync(vidur).sort() : []) {
    const facts = VIDUR_GPUS[dir]?.();
    if (!facts) continue;
    gpus.set(facts.id, facts);
    for (const model of readdirSync(join(vidur, dir)).sort()) {
      const path = join(vidur, dir, model, 'mlp.csv');
      if (!existsSync(path) || !VIDUR_LAYERS[model]) continue;
      sources.push(`vidur/compute/${dir}/${model}/mlp.csv`);
      const seen = new Set<string>();
      for (const r of readVidurMlp(path)) {
        const key = `${r.tp}:${r.tokens}`;
        // Repeated token counts: the first measurement stands (they agree within noise).
        if (seen.has(key) || !onTokenGrid(r.tokens)) continue;
        seen.add(key);
        const s: Shape = { h: r.nEmbd, nH: r.nHead, nKv: r.nKvHead, hd: r.nEmbd / r.nHead, inter: r.nExpanded, vocab: r.vocab, layers: VIDUR_LAYERS[model], tp: r.tp };
        const shapes = opShapes(s, r.tokens);
        const step = `${facts.id}|${model}|tp${r.tp}|${r.tokens}`;
        for (const [vop, ours] of Object.entries(VIDUR_OP)) {
          const sh = shapes[ours];
          if (r.opsUs[vop] > 0) obs.push({ gpu: facts.id, op: ours, cls: sh.cls, m: r.tokens, n: sh.n, k: sh.k, bytes: sh.bytes, us: r.opsUs[vop], step, times: sh.times });
        }
      }
    }
  }
  const lss = join(root, 'llmservingsim', 'rtx4090', 'Llama-3.1-8B', 'tp1');
  if (existsSync(lss)) {
    const facts = catalogFacts('rtx-4090');
    gpus.set(facts.id, facts);
    sources.push('llmservingsim/rtx4090/Llama-3.1-8B/tp1/dense.csv');
    const s: Shape = { h: 4096, nH: 32, nKv: 8, hd: 128, inter: 14336, vocab: 128256, layers: 32, tp: 1 };
    const t = readCsv(join(lss, 'dense.csv'));
    const cl = column(t, 'layer');
    const ct = column(t, 'tokens');
    const cu = column(t, 'time_us');
    for (let r = 0; r < t.rows.length; r++) {
      const m = num(t, r, ct);
      if (!onTokenGrid(m)) continue;
      const name = t.rows[r][cl].trim();
      const shapes = opShapes(s, m);
      const step = `${facts.id}|Llama-3.1-8B|tp1|${m}`;
      const add = (op: string): void => {
        const sh = shapes[op];
        obs.push({ gpu: facts.id, op, cls: sh.cls, m, n: sh.n, k: sh.k, bytes: sh.bytes, us: num(t, r, cu), step, times: sh.times });
      };
      if (name === 'layernorm') {
        add('input_layernorm');
        add('post_attention_layernorm');
      } else if (shapes[name]) add(name);
    }
  }
  return { gpus: [...gpus.values()], obs, sources };
}
