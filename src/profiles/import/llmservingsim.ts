import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../../util/errors.js';
import type { OperatorTablesJson } from '../operator-tables.js';
import { column, dataLabel, num, readCsv, us } from './csv-table.js';

export const LLMSERVINGSIM_ATTRIBUTION =
  'Derived from the LLMServingSim profiler output (casys-kaist/LLMServingSim, profiler/perf), MIT License, Copyright (c) 2024, CASYS Lab at KAIST (the MIT permission notice applies to these derived tables).';

/** What the profiler's meta.yaml says about the run. */
export interface LlmServingSimMeta {
  gpu: string;
  hardware: string;
  model: string;
  vllmVersion: string;
  tpDegrees: number[];
}

export function readLlmServingSimMeta(dir: string): LlmServingSimMeta {
  const path = join(dir, 'meta.yaml');
  if (!existsSync(path)) throw new UserError(`${path}: missing (an LLMServingSim profile directory holds meta.yaml and tp<N>/{dense,per_sequence,attention}.csv)`);
  const m = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof m[k] !== 'string') throw new UserError(`${path}: ${k}: expected a string`);
    return m[k];
  };
  const tps = Array.isArray(m.tp_degrees) ? (m.tp_degrees as unknown[]).map(Number) : [1];
  return { gpu: str('gpu'), hardware: str('hardware'), model: str('model'), vllmVersion: typeof m.vllm_version === 'string' || typeof m.vllm_version === 'number' ? String(m.vllm_version) : 'unknown', tpDegrees: tps };
}

/** Per-layer ops the profiler times once per layer but that run twice (input and post-attention norm). */
const PER_LAYER: Record<string, string[]> = {
  layernorm: ['input_layernorm', 'post_attention_layernorm'],
  qkv_proj: ['qkv_proj'],
  rotary_emb: ['rotary_emb'],
  o_proj: ['o_proj'],
  gate_up_proj: ['gate_up_proj'],
  act_fn: ['act_fn'],
  down_proj: ['down_proj'],
};
const ONCE: Record<string, string> = { embedding: 'embedding', final_layernorm: 'final_layernorm' };

function series(path: string, axis: string): { xs: number[]; ops: Map<string, Map<number, number>> } {
  const t = readCsv(path);
  const cl = column(t, 'layer');
  const cx = column(t, axis);
  const ct = column(t, 'time_us');
  const ops = new Map<string, Map<number, number>>();
  const xs = new Set<number>();
  for (let r = 0; r < t.rows.length; r++) {
    const name = t.rows[r][cl].trim();
    const x = num(t, r, cx);
    xs.add(x);
    let m = ops.get(name);
    if (!m) ops.set(name, (m = new Map<number, number>()));
    m.set(x, num(t, r, ct));
  }
  return { xs: [...xs].sort((a, b) => a - b), ops };
}

function pick(path: string, s: ReturnType<typeof series>, name: string): number[] {
  const m = s.ops.get(name);
  if (!m) throw new UserError(`${path}: no rows for op "${name}" (ops: ${[...s.ops.keys()].join(', ')})`);
  return s.xs.map((x) => {
    const v = m.get(x);
    if (v === undefined) throw new UserError(`${path}: op "${name}" has no row for ${x}`);
    return us(v);
  });
}

/**
 * Reads one TP degree of an LLMServingSim profile (`DIR/tp<N>/`). The attention grid misses the
 * mixed points with 256 decodes (257 sequences exceed the profiler's max_num_seqs); they are
 * continued linearly from 64 and 128 decodes, which is how attention grows with decodes.
 */
export function importLlmServingSim(dir: string, tp: number): OperatorTablesJson {
  const tpDir = join(dir, `tp${tp}`);
  if (!existsSync(tpDir)) throw new UserError(`${tpDir}: missing (this profile has no TP ${tp} tables)`);
  const densePath = join(tpDir, 'dense.csv');
  const dense = series(densePath, 'tokens');
  const perLayer: Record<string, number[]> = {};
  for (const [src, names] of Object.entries(PER_LAYER)) for (const n of names) perLayer[n] = pick(densePath, dense, src);
  const once: Record<string, number[]> = {};
  for (const [src, n] of Object.entries(ONCE)) once[n] = pick(densePath, dense, src);
  const seqPath = join(tpDir, 'per_sequence.csv');
  const perSeq = series(seqPath, 'sequences');
  const attention = readAttentionGrid(join(tpDir, 'attention.csv'));
  return {
    origin: 'llmservingsim',
    data: `${dataLabel(dir)}/tp${tp}`,
    attribution: LLMSERVINGSIM_ATTRIBUTION,
    per_layer: { tokens: dense.xs, ops: perLayer },
    once: { tokens: dense.xs, ops: once },
    per_sequence: { seqs: perSeq.xs, ops: { lm_head: pick(seqPath, perSeq, 'lm_head'), sampler: pick(seqPath, perSeq, 'sampler') } },
    attention,
  };
}

function readAttentionGrid(path: string): NonNullable<OperatorTablesJson['attention']> {
  const t = readCsv(path);
  const cols = ['prefill_chunk', 'kv_prefill', 'n_decode', 'kv_decode', 'time_us'].map((c) => column(t, c));
  const cell = new Map<string, number>();
  const axes: Set<number>[] = [new Set(), new Set(), new Set(), new Set()];
  for (let r = 0; r < t.rows.length; r++) {
    const v = cols.map((c) => num(t, r, c));
    for (let k = 0; k < 4; k++) axes[k].add(v[k]);
    cell.set(`${v[0]},${v[1]},${v[2]},${v[3]}`, v[4]);
  }
  const [chunk, kvp, nd, kvd] = axes.map((a) => [...a].sort((x, y) => x - y));
  const get = (c: number, p: number, n: number, k: number): number | undefined => {
    // Axis 0 of a quantity that is absent: the table only has the (0, 0) pair of that part.
    if (c === 0 && p !== 0) return get(0, 0, n, k);
    if (n === 0 && k !== 0) return get(c, p, 0, 0);
    if (c === 0 && n === 0) return 0;
    // A decode always reads some KV: the grid's first KV point stands for "under 16 tokens".
    if (n !== 0 && k === 0) return get(c, p, n, kvd[1]);
    return cell.get(`${c},${p},${n},${k}`);
  };
  const out: number[] = [];
  for (const c of chunk) {
    for (const p of kvp) {
      for (let ni = 0; ni < nd.length; ni++) {
        for (const k of kvd) {
          let v = get(c, p, nd[ni], k);
          if (v === undefined && ni >= 3) {
            const a = get(c, p, nd[ni - 2], k);
            const b = get(c, p, nd[ni - 1], k);
            if (a !== undefined && b !== undefined) v = b + ((b - a) / (nd[ni - 1] - nd[ni - 2])) * (nd[ni] - nd[ni - 1]);
          }
          if (v === undefined) throw new UserError(`${path}: no measurement for prefill_chunk=${c} kv_prefill=${p} n_decode=${nd[ni]} kv_decode=${k} and none to continue from`);
          out.push(us(v));
        }
      }
    }
  }
  return { chunk, kv_prefill: kvp, n_decode: nd, kv_decode: kvd, us: out };
}
