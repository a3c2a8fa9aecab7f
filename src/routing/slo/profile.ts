import type { ModelGpuProfileJson } from '../../profiles/aibrix-format.js';

// The file format lives with the profiles that carry it; re-exported for the policies' callers.
export { parseModelGpuProfile, parseProfileText, profileJson, type AibrixSlos, type ModelGpuProfileJson } from '../../profiles/aibrix-format.js';

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

  /**
   * @param context the deployment's cached-context table (swept with all but one block of each
   *   prompt cached, indexed by the whole prompt), when the tables were derived here: a request is
   *   also charged by it for the long context it decodes over. AIBrix profiles have none.
   */
  constructor(
    readonly json: ModelGpuProfileJson,
    readonly context?: ProfileTable,
  ) {
    this.log2Out = json.indexes[0].map(Math.log2);
    this.log2In = json.indexes[1].map(Math.log2);
  }

  /** The same tables under another deployment name (its cached-context companion kept). */
  renamed(gpu: string): ProfileTable {
    return new ProfileTable({ ...this.json, gpu }, this.context);
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
