import { UserError } from '../util/errors.js';

/**
 * Measured per-operator timings of one GPU × model × TP, as stored in a deployment profile's
 * `operators` field (written by `router profile import`). All times are microseconds.
 *
 *  - `per_layer`: one decoder layer's token-parallel ops by tokens in the step (×num_layers).
 *  - `once`: ops that run once per step by tokens (embedding, final norm).
 *  - `per_sequence`: ops that run once per sequence in the step (LM head, sampler).
 *  - `attention`: one layer's attention for a step with a prefill chunk of `chunk` tokens over
 *    `kv_prefill` cached tokens plus `n_decode` decodes over `kv_decode` tokens each, on the grid
 *    chunk × kv_prefill × n_decode × kv_decode (row-major, kv_decode fastest).
 *  - `allreduce`: one all-reduce of `bytes` across the deployment's TP group.
 * A class that is absent is priced by the roofline (see OperatorTableStepCost).
 */
export interface OperatorTablesJson {
  origin: 'llmservingsim' | 'vidur';
  /** The directory or files the tables were derived from. */
  data: string;
  /** License and copyright of the source data. */
  attribution: string;
  per_layer: { tokens: number[]; ops: Record<string, number[]> };
  once?: { tokens: number[]; ops: Record<string, number[]> };
  per_sequence?: { seqs: number[]; ops: Record<string, number[]> };
  attention?: { chunk: number[]; kv_prefill: number[]; n_decode: number[]; kv_decode: number[]; us: number[] };
  allreduce?: { bytes: number[]; us: number[]; source: string };
}

function isSortedPositive(a: unknown, allowZeroFirst: boolean): a is number[] {
  if (!Array.isArray(a) || a.length === 0) return false;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (v === 0 && !(allowZeroFirst && i === 0))) return false;
    if (i > 0 && v <= (a[i - 1] as number)) return false;
  }
  return true;
}

function checkSeries(where: string, axis: unknown, axisName: string, ops: unknown): void {
  if (!isSortedPositive(axis, false)) throw new UserError(`${where}.${axisName}: expected increasing positive numbers`);
  if (typeof ops !== 'object' || ops === null || Array.isArray(ops) || Object.keys(ops).length === 0) throw new UserError(`${where}.ops: expected an object of op name → times`);
  for (const [name, v] of Object.entries(ops)) {
    if (!Array.isArray(v) || v.length !== axis.length || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
      throw new UserError(`${where}.ops.${name}: expected ${axis.length} non-negative times (one per ${axisName} value)`);
    }
  }
}

/** Checks an `operators` object from a profile file; `where` names it in errors. */
export function parseOperatorTables(v: unknown, where: string): OperatorTablesJson {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${where}: expected an object`);
  const o = v as Partial<OperatorTablesJson>;
  if (o.origin !== 'llmservingsim' && o.origin !== 'vidur') throw new UserError(`${where}.origin: expected "llmservingsim" or "vidur"`);
  if (typeof o.data !== 'string' || typeof o.attribution !== 'string') throw new UserError(`${where}: "data" and "attribution" must be strings`);
  if (!o.per_layer) throw new UserError(`${where}.per_layer: required`);
  checkSeries(`${where}.per_layer`, o.per_layer.tokens, 'tokens', o.per_layer.ops);
  if (o.once) checkSeries(`${where}.once`, o.once.tokens, 'tokens', o.once.ops);
  if (o.per_sequence) checkSeries(`${where}.per_sequence`, o.per_sequence.seqs, 'seqs', o.per_sequence.ops);
  if (o.attention) {
    const a = o.attention;
    for (const k of ['chunk', 'kv_prefill', 'n_decode', 'kv_decode'] as const) {
      if (!isSortedPositive(a[k], true)) throw new UserError(`${where}.attention.${k}: expected increasing non-negative numbers`);
    }
    const n = a.chunk.length * a.kv_prefill.length * a.n_decode.length * a.kv_decode.length;
    if (!Array.isArray(a.us) || a.us.length !== n || a.us.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
      throw new UserError(`${where}.attention.us: expected ${n} non-negative times (the full grid)`);
    }
    if (a.chunk[0] !== 0 || a.n_decode[0] !== 0 || a.kv_prefill[0] !== 0 || a.kv_decode[0] !== 0) {
      throw new UserError(`${where}.attention: every axis must start at 0 (decode-only and prefill-only steps)`);
    }
  }
  if (o.allreduce) {
    if (!isSortedPositive(o.allreduce.bytes, false)) throw new UserError(`${where}.allreduce.bytes: expected increasing positive numbers`);
    if (!Array.isArray(o.allreduce.us) || o.allreduce.us.length !== o.allreduce.bytes.length) throw new UserError(`${where}.allreduce.us: expected one time per size`);
  }
  return o as OperatorTablesJson;
}

/**
 * Piecewise-linear y(x) over increasing `xs`; beyond the last point it continues along the last
 * segment (times grow linearly with tokens there), below the first it holds the first value.
 */
export function interp1(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = xs.length;
  if (n === 1 || x <= xs[0]) return ys[0];
  let i = segment(xs, x);
  if (i >= n - 1) i = n - 2;
  const t = (x - xs[i]) / (xs[i + 1] - xs[i]);
  return ys[i] + t * (ys[i + 1] - ys[i]);
}

/** Index i with xs[i] ≤ x < xs[i+1] (n−1 past the end), by binary search. */
function segment(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  if (x >= xs[hi]) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Cell index and weight of x on a grid (clamped to the grid's ends; `extrapolate` continues the last cell). */
function cell(xs: readonly number[], x: number, extrapolate: boolean): [number, number] {
  const n = xs.length;
  if (n === 1) return [0, 0];
  if (x <= xs[0]) return [0, 0];
  let i = segment(xs, x);
  if (i >= n - 1) {
    if (!extrapolate) return [n - 2, 1];
    i = n - 2;
  }
  return [i, (x - xs[i]) / (xs[i + 1] - xs[i])];
}

/**
 * One layer's attention time from the 4-D grid, multilinear between grid points (linear in each
 * quantity: attention work grows linearly in decodes and in KV length, and piecewise in chunk).
 * Decode-only and prefill-only steps use the grid's 0 planes, so they are exact 2-D lookups.
 */
export class AttentionGrid {
  private readonly c: number[];
  private readonly kp: number[];
  private readonly nd: number[];
  private readonly kd: number[];
  private readonly us: Float64Array;
  private readonly sC: number;
  private readonly sKp: number;
  private readonly sNd: number;
  /** Decode-only plane resampled per integer batch size: row b holds µs over `kd` (see decodeUs). */
  private readonly decodeRows: Float64Array[];
  /** Cheapest measured attention call: the launch floor an extra prefill chunk does not pay again. */
  readonly floorUs: number;

  constructor(a: NonNullable<OperatorTablesJson['attention']>, maxSeqs: number) {
    this.c = a.chunk;
    this.kp = a.kv_prefill;
    this.nd = a.n_decode;
    this.kd = a.kv_decode;
    this.us = Float64Array.from(a.us);
    this.sNd = this.kd.length;
    this.sKp = this.nd.length * this.sNd;
    this.sC = this.kp.length * this.sKp;
    let floor = Infinity;
    for (const v of a.us) if (v > 0) floor = Math.min(floor, v);
    this.floorUs = Number.isFinite(floor) ? floor : 0;
    this.decodeRows = [];
    for (let b = 0; b <= maxSeqs; b++) {
      const [i, w] = cell(this.nd, b, true);
      const row = new Float64Array(this.kd.length);
      for (let k = 0; k < this.kd.length; k++) {
        const y0 = this.at(0, 0, i, k);
        const y1 = this.at(0, 0, Math.min(i + 1, this.nd.length - 1), k);
        row[k] = y0 + w * (y1 - y0);
      }
      this.decodeRows.push(row);
    }
  }

  private at(ci: number, kpi: number, ndi: number, kdi: number): number {
    return this.us[ci * this.sC + kpi * this.sKp + ndi * this.sNd + kdi];
  }

  /** Decode-only step: `n` decodes over `kvMean` tokens each. */
  decodeUs(n: number, kvMean: number): number {
    const row = n < this.decodeRows.length ? this.decodeRows[n] : undefined;
    if (row) return interp1(this.kd, row as unknown as number[], kvMean);
    return this.lookup(0, 0, n, kvMean);
  }

  /**
   * Any step. A chunk or KV length between 0 and the first grid point is clamped up to it (the
   * grid has no mixed point there); beyond the last point the last cell is extended.
   */
  lookup(chunk: number, kvPrefill: number, nDecode: number, kvDecode: number): number {
    const cc = chunk > 0 ? cell(this.c, Math.max(chunk, this.c[1] ?? chunk), true) : ([0, 0] as [number, number]);
    const kpc = chunk > 0 ? cell(this.kp, kvPrefill, true) : ([0, 0] as [number, number]);
    const ndc = nDecode > 0 ? cell(this.nd, Math.max(nDecode, this.nd[1] ?? nDecode), true) : ([0, 0] as [number, number]);
    const kdc = nDecode > 0 ? cell(this.kd, Math.max(kvDecode, this.kd[1] ?? kvDecode), true) : ([0, 0] as [number, number]);
    let sum = 0;
    for (let a = 0; a < 2; a++) {
      const wa = a === 0 ? 1 - cc[1] : cc[1];
      if (wa === 0) continue;
      for (let b = 0; b < 2; b++) {
        const wb = b === 0 ? 1 - kpc[1] : kpc[1];
        if (wb === 0) continue;
        for (let c = 0; c < 2; c++) {
          const wc = c === 0 ? 1 - ndc[1] : ndc[1];
          if (wc === 0) continue;
          for (let d = 0; d < 2; d++) {
            const wd = d === 0 ? 1 - kdc[1] : kdc[1];
            if (wd === 0) continue;
            sum += wa * wb * wc * wd * this.at(cc[0] + a, kpc[0] + b, ndc[0] + c, kdc[0] + d);
          }
        }
      }
    }
    return sum;
  }
}

/** Sum of all ops of a series, per axis point. */
export function sumOps(ops: Record<string, number[]>): number[] {
  const names = Object.keys(ops);
  const n = ops[names[0]].length;
  const out = new Array<number>(n).fill(0);
  for (const name of names) for (let i = 0; i < n; i++) out[i] += ops[name][i];
  return out;
}

/**
 * y(x) for every integer x in 0..max, precomputed from a piecewise-linear series (so a step pays
 * an array read, not a search). y(0) = 0: an empty step runs no op.
 */
export function denseSeries(xs: readonly number[], ys: readonly number[], max: number): Float64Array {
  const out = new Float64Array(max + 1);
  for (let x = 1; x <= max; x++) out[x] = interp1(xs, ys, x);
  return out;
}
