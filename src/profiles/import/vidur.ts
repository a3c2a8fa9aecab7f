import { join, basename } from 'node:path';
import { existsSync } from 'node:fs';
import { UserError } from '../../util/errors.js';
import type { Model } from '../types.js';
import type { OperatorTablesJson } from '../operator-tables.js';
import { column, dataLabel, num, readCsv, us, type CsvTable } from './csv-table.js';

export const VIDUR_ATTRIBUTION =
  'Derived from Vidur profiling data (microsoft/vidur, data/profiling), MIT License, Copyright (c) Microsoft Corporation (the MIT permission notice applies to these derived tables).';

/** Vidur op → our op names and how often it runs per layer (two residual adds per layer). */
const PER_LAYER: Record<string, [string, number]> = {
  input_layernorm: ['input_layernorm', 1],
  attn_pre_proj: ['qkv_proj', 1],
  attn_rope: ['rotary_emb', 1],
  attn_post_proj: ['o_proj', 1],
  post_attention_layernorm: ['post_attention_layernorm', 1],
  mlp_up_proj: ['gate_up_proj', 1],
  mlp_act: ['act_fn', 1],
  mlp_down_proj: ['down_proj', 1],
  add: ['residual_add', 2],
};

/** One row of Vidur's mlp.csv: shard shapes, tokens, and per-op medians in µs. */
export interface VidurMlpRow {
  nHead: number;
  nKvHead: number;
  nEmbd: number;
  nExpanded: number;
  vocab: number;
  tokens: number;
  tp: number;
  opsUs: Record<string, number>;
}

export const VIDUR_OPS = [...Object.keys(PER_LAYER), 'emb'];

export function readVidurMlp(path: string): VidurMlpRow[] {
  const t: CsvTable = readCsv(path);
  const c = (n: string): number => column(t, n);
  const shape = { nHead: c('n_head'), nKvHead: c('n_kv_head'), nEmbd: c('n_embd'), nExpanded: c('n_expanded_embd'), vocab: c('vocab_size'), tokens: c('num_tokens'), tp: c('num_tensor_parallel_workers') };
  const opCols = VIDUR_OPS.map((op) => [op, c(`time_stats.${op}.median`)] as const);
  const rows: VidurMlpRow[] = [];
  for (let r = 0; r < t.rows.length; r++) {
    const opsUs: Record<string, number> = {};
    for (const [op, col] of opCols) opsUs[op] = num(t, r, col) * 1e3; // Vidur stores milliseconds
    rows.push({ nHead: num(t, r, shape.nHead), nKvHead: num(t, r, shape.nKvHead), nEmbd: num(t, r, shape.nEmbd), nExpanded: num(t, r, shape.nExpanded), vocab: num(t, r, shape.vocab), tokens: num(t, r, shape.tokens), tp: num(t, r, shape.tp), opsUs });
  }
  return rows;
}

/** Median all-reduce time by message size for one TP group inside one node (Vidur network CSV). */
export function readVidurAllReduce(path: string, tp: number): { bytes: number[]; us: number[] } {
  const t = readCsv(path);
  const cw = column(t, 'num_workers');
  const cd = column(t, 'devices_per_node');
  const cs = column(t, 'size');
  const ct = column(t, 'time_stats.all_reduce.median');
  const by = new Map<number, number[]>();
  for (let r = 0; r < t.rows.length; r++) {
    if (num(t, r, cw) !== tp || num(t, r, cd) !== tp) continue;
    const size = num(t, r, cs);
    const list = by.get(size) ?? [];
    list.push(num(t, r, ct) * 1e3);
    by.set(size, list);
  }
  if (by.size === 0) throw new UserError(`${path}: no all-reduce rows for ${tp} workers within one node`);
  const sizes = [...by.keys()].sort((a, b) => a - b);
  // Resample on powers of √2 of the message size (the raw sweep has ~1000 sizes with jitter):
  // the median of the measurements in each bucket.
  const bytes: number[] = [];
  const times: number[] = [];
  const lo = Math.log2(sizes[0]);
  const hi = Math.log2(sizes[sizes.length - 1]);
  for (let e = lo; e <= hi + 1e-9; e += 0.5) {
    const inBucket = sizes.filter((s) => Math.abs(Math.log2(s) - e) <= 0.25).flatMap((s) => by.get(s) as number[]);
    if (inBucket.length === 0) continue;
    inBucket.sort((a, b) => a - b);
    bytes.push(Math.round(2 ** e) * 2); // bf16 elements → bytes
    times.push(us(inBucket[inBucket.length >> 1]));
  }
  // Keep the series monotone in size (a bigger message never finishes sooner).
  for (let i = 1; i < times.length; i++) times[i] = Math.max(times[i], times[i - 1]);
  return { bytes, us: times };
}

/**
 * Turns Vidur's mlp.csv for one model at one TP degree into operator tables. Vidur profiles the
 * per-GPU shards at that TP degree, so the tables price the sharded GEMMs directly. The shapes in
 * the file must match the catalog model's (checked), so a profile cannot silently price the wrong model.
 */
export function importVidur(dir: string, model: Model, tp: number, networkDir?: string): OperatorTablesJson {
  const path = join(dir, 'mlp.csv');
  if (!existsSync(path)) throw new UserError(`${path}: missing (a Vidur model directory is data/profiling/compute/<gpu>/<model>/ with mlp.csv)`);
  const rows = readVidurMlp(path).filter((r) => r.tp === tp);
  if (rows.length === 0) throw new UserError(`${path}: no rows for num_tensor_parallel_workers=${tp}`);
  const r0 = rows[0];
  const want = { n_embd: model.hidden_size, n_head: model.num_attention_heads, n_kv_head: model.num_kv_heads, n_expanded_embd: model.intermediate_size };
  const got = { n_embd: r0.nEmbd, n_head: r0.nHead, n_kv_head: r0.nKvHead, n_expanded_embd: r0.nExpanded };
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (want[k] !== got[k]) throw new UserError(`${path}: ${k} is ${got[k]} but model ${model.id} has ${want[k]} (pick the matching --model)`);
  }
  const byTokens = new Map<number, VidurMlpRow[]>();
  for (const r of rows) byTokens.set(r.tokens, [...(byTokens.get(r.tokens) ?? []), r]);
  const tokens = [...byTokens.keys()].sort((a, b) => a - b);
  // Repeated token counts (Vidur profiles some twice) are averaged.
  const mean = (list: VidurMlpRow[], op: string): number => list.reduce((a, r) => a + r.opsUs[op], 0) / list.length;
  const perLayer: Record<string, number[]> = {};
  for (const [op, [name, times]] of Object.entries(PER_LAYER)) perLayer[name] = tokens.map((t) => us(times * mean(byTokens.get(t) as VidurMlpRow[], op)));
  const once = { embedding: tokens.map((t) => us(mean(byTokens.get(t) as VidurMlpRow[], 'emb'))) };
  const out: OperatorTablesJson = {
    origin: 'vidur',
    data: `${dataLabel(dir)}/mlp.csv, TP ${tp}`,
    attribution: VIDUR_ATTRIBUTION,
    per_layer: { tokens, ops: perLayer },
    once: { tokens, ops: once },
  };
  if (networkDir && tp > 1) out.allreduce = { ...readVidurAllReduce(join(networkDir, 'all_reduce.csv'), tp), source: `NCCL all_reduce, ${tp} GPUs in one node (${basename(networkDir)})` };
  return out;
}
