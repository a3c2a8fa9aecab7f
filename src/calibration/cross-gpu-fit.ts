import type { Architecture } from '../profiles/architecture.js';
import type { GpuFacts, OpClass, OpObservation, OperatorDataset } from './operator-data.js';

/**
 * The roofline's operator model, fitted on measured operator timings across GPUs.
 *
 *   GEMM (M tokens, N×K shard):  t = τ + max(2MNK / (P·η_c·M/(M+m½)), 2(NK + M(N+K)) / (BW·η_b))
 *   elementwise (B bytes):       t = τ_e + B / (BW·η_e)
 *
 * P and BW are the GPU's effective peaks (datasheet × sustained/rated clock, × the data share of
 * the bus with in-band ECC; src/profiles/effective-peaks.ts), so a GeForce card's boost and an ECC
 * GDDR card's check bits come from its facts, not from its timings.
 *
 * η_c saturates with M (small GEMMs cannot fill the tensor cores), so the efficiency is a
 * function of the GEMM's shape; each architecture generation gets its own parameters, fitted on
 * the GPUs of that generation, and a generation without data uses the pooled fit.
 */
export interface OperatorModel {
  gemm_efficiency: number;
  gemm_half_tokens: number;
  bandwidth_efficiency: number;
  gemm_launch_us: number;
  elementwise_efficiency: number;
  elementwise_launch_us: number;
}

type Key = keyof OperatorModel;
const GEMM_KEYS: Key[] = ['gemm_efficiency', 'gemm_half_tokens', 'bandwidth_efficiency', 'gemm_launch_us'];
const EW_KEYS: Key[] = ['elementwise_efficiency', 'elementwise_launch_us'];
const BOUNDS: Record<Key, [number, number]> = {
  gemm_efficiency: [0.2, 1.5],
  gemm_half_tokens: [0, 4096],
  bandwidth_efficiency: [0.3, 1.2],
  gemm_launch_us: [0, 50],
  elementwise_efficiency: [0.05, 1.2],
  elementwise_launch_us: [0, 50],
};
export const START: OperatorModel = { gemm_efficiency: 0.7, gemm_half_tokens: 32, bandwidth_efficiency: 0.8, gemm_launch_us: 3, elementwise_efficiency: 0.5, elementwise_launch_us: 3 };

export function predictUs(o: Pick<OpObservation, 'cls' | 'm' | 'n' | 'k' | 'bytes'>, g: Pick<GpuFacts, 'effective_tflops' | 'effective_bandwidth_gbps'>, p: OperatorModel): number {
  const peak = g.effective_tflops * 1e6; // FLOP per µs
  const bw = g.effective_bandwidth_gbps * 1e3; // bytes per µs
  if (o.cls === 'elementwise') return p.elementwise_launch_us + o.bytes / (bw * p.elementwise_efficiency);
  const sat = o.m / (o.m + p.gemm_half_tokens);
  const compute = (2 * o.m * o.n * o.k) / (peak * p.gemm_efficiency * sat);
  const memory = (2 * (o.n * o.k + o.m * (o.n + o.k))) / (bw * p.bandwidth_efficiency);
  return p.gemm_launch_us + Math.max(compute, memory);
}

/** Σ over observations of (ln predicted − ln measured)², each GPU weighted equally. */
function loss(obs: readonly OpObservation[], gpus: Map<string, GpuFacts>, weights: Map<string, number>, p: OperatorModel): number {
  let s = 0;
  for (const o of obs) {
    const e = Math.log(predictUs(o, gpus.get(o.gpu) as GpuFacts, p) / o.us);
    s += (weights.get(o.gpu) as number) * e * e;
  }
  return s;
}

/** Deterministic coordinate search in log space over the bounded parameters of one op class. */
function fitKeys(obs: readonly OpObservation[], gpus: Map<string, GpuFacts>, start: OperatorModel, keys: Key[]): OperatorModel {
  const count = new Map<string, number>();
  for (const o of obs) count.set(o.gpu, (count.get(o.gpu) ?? 0) + 1);
  const weights = new Map([...count].map(([g, n]) => [g, 1 / n]));
  let best = { ...start };
  let bestLoss = loss(obs, gpus, weights, best);
  for (const step of [1, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01, 0.005]) {
    for (let sweep = 0, improved = true; improved && sweep < 40; sweep++) {
      improved = false;
      for (const key of keys) {
        for (const dir of [1, -1]) {
          const [lo, hi] = BOUNDS[key];
          // Parameters that may be 0 move in log(1 + x).
          const v0 = best[key];
          const v = lo === 0 ? (1 + v0) * Math.exp(dir * step) - 1 : v0 * Math.exp(dir * step);
          const cand = { ...best, [key]: Math.min(hi, Math.max(lo, v)) };
          if (cand[key] === v0) continue;
          const l = loss(obs, gpus, weights, cand);
          if (l < bestLoss - 1e-12) {
            best = cand;
            bestLoss = l;
            improved = true;
          }
        }
      }
    }
  }
  return best;
}

export function fitModel(obs: readonly OpObservation[], gpus: Map<string, GpuFacts>, start: OperatorModel = START): OperatorModel {
  const gemm = fitKeys(obs.filter((o) => o.cls === 'gemm'), gpus, start, GEMM_KEYS);
  return fitKeys(obs.filter((o) => o.cls === 'elementwise'), gpus, gemm, EW_KEYS);
}

/** Pooled parameters plus one set per architecture generation present in the training GPUs. */
export interface CrossGpuFit {
  pooled: OperatorModel;
  byArch: Partial<Record<Architecture, OperatorModel>>;
  /** GPUs behind each generation's fit. */
  arches: Partial<Record<Architecture, number>>;
  gpus: string[];
}

export function fitAcrossGpus(data: OperatorDataset, train: readonly string[]): CrossGpuFit {
  const gpus = new Map(data.gpus.map((g) => [g.id, g]));
  const obs = data.obs.filter((o) => train.includes(o.gpu));
  const pooled = fitModel(obs, gpus);
  const byArch: CrossGpuFit['byArch'] = {};
  const arches: CrossGpuFit['arches'] = {};
  for (const arch of [...new Set(train.map((id) => (gpus.get(id) as GpuFacts).arch))].sort()) {
    const members = train.filter((id) => (gpus.get(id) as GpuFacts).arch === arch);
    byArch[arch] = fitModel(obs.filter((o) => members.includes(o.gpu)), gpus, pooled);
    arches[arch] = members.length;
  }
  return { pooled, byArch, arches, gpus: [...train] };
}

/**
 * Parameters for a GPU of `arch`: its generation's fit shrunk toward the pooled one by the number
 * of GPUs behind it (n/(n+1) in log space), so one GPU does not speak for its whole generation;
 * the pooled fit alone for a generation without data.
 */
export function modelFor(fit: CrossGpuFit, arch: Architecture): OperatorModel {
  const own = fit.byArch[arch];
  const n = fit.arches[arch] ?? 0;
  if (!own || n === 0) return fit.pooled;
  const w = n / (n + SHRINK);
  const out = { ...fit.pooled };
  for (const k of Object.keys(out) as Key[]) out[k] = Math.exp(w * Math.log(own[k] + 1e-9) + (1 - w) * Math.log(fit.pooled[k] + 1e-9));
  return out;
}

/** Pseudo-count of the pooled fit in the shrinkage above. */
export const SHRINK = 1;

export interface LooRow {
  gpu: string;
  arch: Architecture;
  /** Which parameters predicted it: its generation's (fitted on other GPUs of it) or the pooled fit. */
  used: string;
  byClass: Record<OpClass, { median: number; n: number }>;
  steps: { median: number; mean: number; n: number };
  /** Steps of at most DECODE_SIZED_TOKENS tokens (weight-streaming, memory-bound) and larger ones (compute-bound). */
  decodeSteps: { median: number; n: number };
  prefillSteps: { median: number; n: number };
  /** Per GEMM: median signed error ((pred − real)/real; + = predicted slower), and median |error|. */
  byOp: Record<string, { bias: number; median: number; n: number }>;
}

/** A step of up to this many tokens streams the weights (decode-sized); larger ones are compute-bound. */
export const DECODE_SIZED_TOKENS = 64;

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Leave one GPU out: fit on the others, predict the left-out GPU's operator timings. Errors are
 * relative (|pred − real| / real); a step is one (model, TP, tokens) point of the tables, its time
 * the sum of its measured ops × how often each runs (per-layer ops × layers).
 */
export function leaveOneGpuOut(data: OperatorDataset): LooRow[] {
  const rows: LooRow[] = [];
  for (const g of data.gpus) {
    const train = data.gpus.filter((x) => x.id !== g.id).map((x) => x.id);
    const fit = fitAcrossGpus(data, train);
    const p = modelFor(fit, g.arch);
    const mine = data.obs.filter((o) => o.gpu === g.id);
    const err: Record<OpClass, number[]> = { gemm: [], elementwise: [] };
    const opErr = new Map<string, number[]>();
    const steps = new Map<string, { real: number; pred: number; tokens: number }>();
    for (const o of mine) {
      const pred = predictUs(o, g, p);
      err[o.cls].push(Math.abs(pred - o.us) / o.us);
      if (o.cls === 'gemm') {
        const e = opErr.get(o.op) ?? [];
        e.push((pred - o.us) / o.us);
        opErr.set(o.op, e);
      }
      const s = steps.get(o.step) ?? { real: 0, pred: 0, tokens: o.m };
      s.real += o.us * o.times;
      s.pred += pred * o.times;
      steps.set(o.step, s);
    }
    const stepErr = [...steps.values()].map((s) => (s.pred - s.real) / s.real);
    const split = (decode: boolean): { median: number; n: number } => {
      const e = [...steps.values()].filter((s) => s.tokens <= DECODE_SIZED_TOKENS === decode).map((s) => Math.abs(s.pred - s.real) / s.real);
      return { median: median(e), n: e.length };
    };
    const byOp: LooRow['byOp'] = {};
    for (const [op, e] of [...opErr].sort(([a], [b]) => a.localeCompare(b))) byOp[op] = { bias: median(e), median: median(e.map(Math.abs)), n: e.length };
    rows.push({
      gpu: g.id,
      arch: g.arch,
      used: fit.byArch[g.arch] ? `${g.arch} (from ${train.filter((id) => data.gpus.find((x) => x.id === id)?.arch === g.arch).join(', ')})` : `pooled (${train.join(', ')})`,
      byClass: { gemm: { median: median(err.gemm), n: err.gemm.length }, elementwise: { median: median(err.elementwise), n: err.elementwise.length } },
      steps: { median: median(stepErr.map(Math.abs)), mean: stepErr.reduce((a, b) => a + b, 0) / stepErr.length, n: stepErr.length },
      decodeSteps: split(true),
      prefillSteps: split(false),
      byOp,
    });
  }
  return rows;
}

export function formatLooTable(rows: readonly LooRow[]): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const signed = (x: number): string => (x >= 0 ? '+' : '') + pct(x);
  const out = [`left-out GPU    arch    predicted with                         GEMM med|err|  elementwise med|err|  step med|err|  step mean err  steps  ≤${DECODE_SIZED_TOKENS} tok med|err|  >${DECODE_SIZED_TOKENS} tok med|err|`];
  for (const r of rows) {
    out.push(
      `${r.gpu.padEnd(15)} ${r.arch.padEnd(7)} ${r.used.padEnd(38)} ${pct(r.byClass.gemm.median).padStart(13)}  ${pct(r.byClass.elementwise.median).padStart(20)}  ${pct(r.steps.median).padStart(13)}  ${signed(r.steps.mean).padStart(13)}  ${String(r.steps.n).padStart(5)}  ${pct(r.decodeSteps.median).padStart(16)}  ${pct(r.prefillSteps.median).padStart(16)}`,
    );
  }
  const ops = [...new Set(rows.flatMap((r) => Object.keys(r.byOp)))].sort();
  out.push('', `GEMM median signed error by operator (+ = predicted slower than measured)`, `left-out GPU    ${ops.map((o) => o.padStart(13)).join('')}`);
  for (const r of rows) out.push(`${r.gpu.padEnd(15)} ${ops.map((o) => (r.byOp[o] ? signed(r.byOp[o].bias) : '-').padStart(13)).join('')}`);
  return out.join('\n');
}
