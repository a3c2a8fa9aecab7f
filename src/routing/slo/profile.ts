import { UserError } from '../../util/errors.js';

/**
 * AIBrix `ModelGPUProfile` (pkg/cache/model_gpu_profile.go) as it appears in JSON: per deployment
 * (model × GPU), tables indexed `[output bucket][input bucket]` with the bucket values in `indexes`
 * (`[outputs[], inputs[]]`, in tokens). Units are AIBrix's: requests/s and seconds.
 */
export interface ModelGpuProfileJson {
  /** The deployment this profile describes (AIBrix: the k8s deployment name). */
  gpu: string;
  /** Price per unit time (AIBrix leaves the unit to the operator; we write $/hour). */
  cost: number;
  /** Highest request rate that met the SLO in each cell, 0 when none did. */
  tputs: number[][];
  indexes: [number[], number[]];
  /** Unix seconds; a newer profile replaces an older one. */
  created: number;
  /** Mean E2E seconds at that rate; without it the Little's-law load model does not apply. */
  e2e?: number[][];
  /** Mean TTFT seconds at that rate (gen_profile writes it only with a TTFT SLO). */
  ttft?: number[][];
  tpot?: number[][];
  slos?: AibrixSlos;
}

/** `slos` of a profile: the targets the tables were built for (seconds; percentile 1..100). */
export interface AibrixSlos {
  percentile: number;
  tput?: number;
  tt?: number;
  e2e?: number;
  ttft?: number;
  tpat?: number;
  tpot?: number;
}

const SLO_KEYS = ['percentile', 'tput', 'tt', 'e2e', 'ttft', 'tpat', 'tpot'] as const;

/**
 * Python's json.dump writes NaN/Infinity for empty cells (AIBrix issue #1567 shows such a
 * profile); JSON.parse refuses them. They become null here and an unusable (0) cell below.
 */
export function parseProfileText(text: string, where: string): unknown {
  const cleaned = text.replace(/([[,:]\s*)(-?Infinity|NaN)(?=\s*[,\]}])/g, '$1null');
  try {
    return JSON.parse(cleaned);
  } catch (err) {
    throw new UserError(`${where}: not valid JSON (${(err as Error).message})`);
  }
}

function table(v: unknown, rows: number, cols: number, where: string): number[][] {
  if (!Array.isArray(v) || v.length !== rows) throw new UserError(`${where}: expected ${rows} rows (one per output index), got ${Array.isArray(v) ? v.length : typeof v}`);
  return v.map((row: unknown, r) => {
    if (!Array.isArray(row) || row.length !== cols) throw new UserError(`${where}[${r}]: expected ${cols} cells (one per input index)`);
    return row.map((x: unknown, c) => {
      if (x === null) return NaN;
      if (typeof x !== 'number') throw new UserError(`${where}[${r}][${c}]: expected a number, got ${JSON.stringify(x)}`);
      return x;
    });
  });
}

function axis(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new UserError(`${where}: expected a non-empty array of token counts`);
  v.forEach((x: unknown, i) => {
    if (typeof x !== 'number' || !(x > 0)) throw new UserError(`${where}[${i}]: expected a positive token count, got ${JSON.stringify(x)}`);
    if (i > 0 && !(x > (v[i - 1] as number))) throw new UserError(`${where}[${i}]: indexes must increase`);
  });
  return v as number[];
}

/** Checks a parsed AIBrix profile document; `where` names the file in errors. */
export function parseModelGpuProfile(doc: unknown, where: string): ModelGpuProfileJson {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${where}: expected an AIBrix ModelGPUProfile object`);
  const o = doc as Record<string, unknown>;
  if (typeof o.gpu !== 'string' || o.gpu === '') throw new UserError(`${where}: gpu: expected the deployment name (a non-empty string)`);
  if (!Array.isArray(o.indexes) || o.indexes.length !== 2) throw new UserError(`${where}: indexes: expected [outputs[], inputs[]]`);
  const outs = axis(o.indexes[0], `${where}: indexes[0]`);
  const ins = axis(o.indexes[1], `${where}: indexes[1]`);
  const num = (k: string, dflt: number): number => {
    if (o[k] === undefined) return dflt;
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) throw new UserError(`${where}: ${k}: expected a number`);
    return o[k];
  };
  const p: ModelGpuProfileJson = {
    gpu: o.gpu,
    cost: num('cost', 0),
    tputs: table(o.tputs, outs.length, ins.length, `${where}: tputs`),
    indexes: [outs, ins],
    created: num('created', 0),
  };
  for (const k of ['e2e', 'ttft', 'tpot'] as const) if (o[k] !== undefined && o[k] !== null) p[k] = table(o[k], outs.length, ins.length, `${where}: ${k}`);
  if (o.slos !== undefined && o.slos !== null) {
    if (typeof o.slos !== 'object' || Array.isArray(o.slos)) throw new UserError(`${where}: slos: expected an object`);
    const s = o.slos as Record<string, unknown>;
    const slos: AibrixSlos = { percentile: 0 };
    for (const [k, v] of Object.entries(s)) {
      if (!(SLO_KEYS as readonly string[]).includes(k)) throw new UserError(`${where}: slos.${k}: unknown key (known: ${SLO_KEYS.join(', ')})`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UserError(`${where}: slos.${k}: expected a non-negative number`);
      slos[k as (typeof SLO_KEYS)[number]] = v;
    }
    p.slos = slos;
  }
  return p;
}

/** JSON text of a profile in AIBrix's key order; unusable cells are written as 0. */
export function profileJson(p: ModelGpuProfileJson): string {
  const clean = (t: number[][] | undefined): number[][] | undefined => t?.map((r) => r.map((x) => (Number.isFinite(x) ? x : 0)));
  const out: Record<string, unknown> = { gpu: p.gpu, cost: p.cost, tputs: clean(p.tputs), indexes: p.indexes, created: p.created };
  if (p.e2e) out.e2e = clean(p.e2e);
  if (p.ttft) out.ttft = clean(p.ttft);
  if (p.tpot) out.tpot = clean(p.tpot);
  if (p.slos) out.slos = p.slos;
  return `${JSON.stringify(out)}\n`;
}

/** AIBrix `SignatureTolerance`: between two indexes, the lower one wins below their log2 midpoint. */
export const SIGNATURE_TOLERANCE = 0.5;

/**
 * AIBrix `GetSignature` on one dimension: log2 of the value, clamped to the first/last index,
 * binary-searched; between neighbours the lower index is chosen when the log2 value is below
 * `lo + 0.5·(hi − lo)` (the geometric midpoint in tokens). Bucket rounding only, no interpolation.
 */
export function bucketIndex(log2Indexes: readonly number[], value: number): number {
  const v = Math.log2(value);
  const n = log2Indexes.length;
  if (!(v > log2Indexes[0])) return 0;
  if (v >= log2Indexes[n - 1]) return n - 1;
  let lo = 0;
  let hi = n - 1;
  // First index with log2Indexes[i] >= v (sort.SearchFloat64s).
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (log2Indexes[mid] >= v) hi = mid;
    else lo = mid + 1;
  }
  if (log2Indexes[lo] === v) return lo;
  const below = log2Indexes[lo - 1];
  return v < below + SIGNATURE_TOLERANCE * (log2Indexes[lo] - below) ? lo - 1 : lo;
}

/** A cell of the tables: `[output row, input column]`. */
export type Signature = readonly [row: number, col: number];

/** A profile ready for lookups (indexes kept as log2, as AIBrix does at unmarshal time). */
export class ProfileTable {
  private readonly log2Out: number[];
  private readonly log2In: number[];

  constructor(readonly json: ModelGpuProfileJson) {
    this.log2Out = json.indexes[0].map(Math.log2);
    this.log2In = json.indexes[1].map(Math.log2);
  }

  get deployment(): string {
    return this.json.gpu;
  }

  /** Cell for features `[predicted output tokens, prompt tokens]`. */
  signature(outputTokens: number, inputTokens: number): Signature {
    return [bucketIndex(this.log2Out, outputTokens), bucketIndex(this.log2In, inputTokens)];
  }

  /** Highest SLO-meeting rate of the cell (requests/s); unusable cells (0, NaN) give 0. */
  tput(s: Signature): number {
    const v = this.json.tputs[s[0]][s[1]];
    return Number.isFinite(v) && v > 0 ? v : 0;
  }

  /** Mean E2E seconds of the cell, when the profile has an E2E table. */
  e2e(s: Signature): number | undefined {
    const v = this.json.e2e?.[s[0]][s[1]];
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  }

  ttft(s: Signature): number | undefined {
    const v = this.json.ttft?.[s[0]][s[1]];
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  }

  /** The Little's-law load model needs throughput and E2E tables (older AIBrix profiles lack E2E). */
  get hasLoadModel(): boolean {
    return this.json.e2e !== undefined;
  }
}
