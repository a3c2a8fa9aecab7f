import { DEFAULTS } from '../defaults.js';
import type { SloSpec } from '../metrics/slo.js';
import { buildWorkload, type WorkloadFlags } from '../workload/workload.js';
import type { CellOutcome, CellSpec } from '../sweep/cell.js';
import type { CellRunner } from '../sweep/pool.js';
import { enumerateCompositions, type Composition, type GpuChoice } from './space.js';

export interface PlanInput {
  /** Workload flags, seed included (as `router simulate` takes them). */
  workload: WorkloadFlags;
  slo: string;
  sloSpec: SloSpec;
  types: GpuChoice[];
  maxTotal: number;
  policies: string[];
  /** Highest fleet price allowed, micro-USD per hour. */
  budgetMicro?: number;
  /** SLO attainment a configuration must reach (0..1). */
  target: number;
  scrapeIntervalS: number;
  /** The workload's size and arrival span, for the capacity bound. */
  requests: number;
  arrivalSpanS: number;
  runner: CellRunner;
  onProgress?: (stage: string, done: number, planned: number) => void;
}

/** One simulated configuration. */
export interface PlanPoint {
  comp: Composition;
  policyIndex: number;
  policy: string;
  costPerHour: number;
  attainment: number;
  goodputRps: number;
  ttftP99Ms: number;
  tpotP99Ms: number;
  stage: 'search' | 'refine';
  spec: CellSpec;
}

/** A GPU type's measured capacity on this workload (req/s one worker sustains), or Infinity when the probe could not saturate it. */
export interface TypeCapacity {
  id: string;
  capacityRps: number;
}

export interface PlanResult {
  capacities: TypeCapacity[];
  compositions: number;
  /** Compositions dropped by the budget and by the capacity bound. */
  overBudget: number;
  boundPruned: number;
  points: PlanPoint[];
  best: PlanPoint | null;
  frontier: PlanPoint[];
}

export function cellSpecFor(input: PlanInput, fleet: string, policy: string): CellSpec {
  return { workload: input.workload, fleet, policy, policyOpt: [], scrapeIntervalS: input.scrapeIntervalS, slo: input.slo };
}

/** Orders configurations as the plan and the exhaustive check both do: cheapest, then best attainment, then enumeration order. */
export function betterThan(a: PlanPoint, b: PlanPoint): boolean {
  if (a.comp.costMicro !== b.comp.costMicro) return a.comp.costMicro < b.comp.costMicro;
  if (a.attainment !== b.attainment) return a.attainment > b.attainment;
  if (a.comp.index !== b.comp.index) return a.comp.index < b.comp.index;
  return a.policyIndex < b.policyIndex;
}

/** The cheapest point meeting the target (ties: higher attainment, then enumeration order). */
export function cheapestFeasible(points: readonly PlanPoint[], target: number): PlanPoint | null {
  let best: PlanPoint | null = null;
  for (const p of points) if (p.attainment >= target && (!best || betterThan(p, best))) best = p;
  return best;
}

/** Cost/attainment Pareto frontier: by cost, each point strictly better in attainment than every cheaper one. */
export function paretoFrontier(points: readonly PlanPoint[]): PlanPoint[] {
  const sorted = [...points].sort((a, b) => (betterThan(a, b) ? -1 : betterThan(b, a) ? 1 : 0));
  const out: PlanPoint[] = [];
  let bestAtt = -Infinity;
  for (const p of sorted) {
    if (p.attainment > bestAtt) {
      // Equal cost and lower attainment never reaches here; equal cost, higher attainment came first.
      out.push(p);
      bestAtt = p.attainment;
    }
  }
  return out;
}

export function pointFrom(comp: Composition, policyIndex: number, policy: string, spec: CellSpec, o: CellOutcome, stage: PlanPoint['stage']): PlanPoint {
  const s = o.summary;
  return {
    comp,
    policyIndex,
    policy,
    costPerHour: comp.costMicro / 1e6,
    attainment: s.slo_attainment ?? 0,
    goodputRps: s.goodput_rps ?? 0,
    ttftP99Ms: s.ttft_ms.p99,
    tpotP99Ms: s.tpot_ms.p99,
    stage,
    spec,
  };
}

/**
 * The capacity bound. A request can meet a TTFT or E2E target only if it is served within that
 * window of its arrival, so by the end of the arrival span S plus the window T a fleet can have
 * served at most Σ cap·(S + T) requests in time, plus what it holds in flight (Σ max_num_seqs).
 * `cap` is each type's saturated throughput on this very workload (one worker, arrivals
 * compressed until it backs up), inflated by a safety margin. A composition whose bound falls
 * short of the target cannot meet it and is not simulated.
 */
export function attainmentUpperBound(input: PlanInput, caps: readonly TypeCapacity[], comp: Composition): number {
  const windowMs = Math.min(input.sloSpec.ttftMs ?? Infinity, input.sloSpec.e2eMs ?? Infinity);
  if (!Number.isFinite(windowMs) || input.requests === 0) return 1;
  let rate = 0;
  let inFlight = 0;
  comp.counts.forEach((n, i) => {
    rate += n * caps[i].capacityRps * DEFAULTS.plan.boundMargin;
    inFlight += n * input.types[i].maxNumSeqs;
  });
  if (!Number.isFinite(rate)) return 1;
  return Math.min(1, (rate * (input.arrivalSpanS + windowMs / 1e3) + inFlight) / input.requests);
}

/** Probe workload: the same requests arriving `speedup` times faster (durations shrink alike, so the same requests arrive). */
function compressed(w: WorkloadFlags, speedup: number): WorkloadFlags {
  const scale = (w.timeScale === undefined ? 1 : Number(w.timeScale)) / speedup;
  return { ...w, timeScale: String(scale), ...(w.duration === undefined ? {} : { duration: String(Number(w.duration) / speedup) }) };
}

async function probeCapacities(input: PlanInput): Promise<TypeCapacity[]> {
  const speedup = DEFAULTS.plan.probeSpeedup;
  const tasks = input.types.map((t, index) => ({ index, spec: { ...cellSpecFor(input, `${t.id}:1`, 'least-request'), workload: compressed(input.workload, speedup) } }));
  const caps: TypeCapacity[] = input.types.map((t) => ({ id: t.id, capacityRps: Infinity }));
  const offered = input.arrivalSpanS > 0 ? (input.requests * speedup) / input.arrivalSpanS : Infinity;
  await input.runner.run(tasks, (i, o) => {
    const tput = o.summary.throughput_rps;
    // Not backed up (it kept pace with the compressed arrivals): its capacity is unknown, and no bound is drawn from it.
    caps[i].capacityRps = Number.isFinite(tput) && tput < 0.9 * offered ? tput : Infinity;
  });
  return caps;
}

/**
 * Searches fleet compositions × policies for the cheapest configuration meeting the target:
 * 1. prune compositions over budget or below the capacity bound;
 * 2. simulate the rest in order of cost (fixed batches, so the set simulated does not depend on
 *    the thread count) until every configuration as cheap as the best feasible one is known —
 *    that one is then the cheapest of all, as an exhaustive sweep would find;
 * 3. refine around it: one GPU more, one less and one swapped, with the winning policy, to draw
 *    the frontier above the target.
 */
export async function searchPlan(input: PlanInput): Promise<PlanResult> {
  const comps = enumerateCompositions(input.types, input.maxTotal);
  input.onProgress?.('probing capacity', 0, input.types.length);
  const caps = await probeCapacities(input);
  let overBudget = 0;
  let boundPruned = 0;
  const kept: Composition[] = [];
  for (const c of comps) {
    if (input.budgetMicro !== undefined && c.costMicro > input.budgetMicro) overBudget++;
    else if (attainmentUpperBound(input, caps, c) < input.target) boundPruned++;
    else kept.push(c);
  }
  kept.sort((a, b) => a.costMicro - b.costMicro || a.index - b.index);
  const candidates = kept.flatMap((comp) => input.policies.map((policy, policyIndex) => ({ comp, policy, policyIndex })));
  const points: PlanPoint[] = [];
  const seen = new Set<string>();
  const evaluate = async (batch: typeof candidates, stage: PlanPoint['stage']): Promise<void> => {
    const tasks = batch.map((c, index) => ({ index, spec: cellSpecFor(input, c.comp.fleet, c.policy) }));
    const got = new Array<PlanPoint>(batch.length);
    await input.runner.run(tasks, (i, o) => {
      got[i] = pointFrom(batch[i].comp, batch[i].policyIndex, batch[i].policy, tasks[i].spec, o, stage);
    });
    for (const c of batch) seen.add(`${c.comp.index}/${c.policyIndex}`);
    points.push(...got);
  };

  let pos = 0;
  let best: PlanPoint | null = null;
  const B = DEFAULTS.plan.batchCells;
  while (pos < candidates.length) {
    const limit = best?.comp.costMicro;
    let end = Math.min(candidates.length, pos + B);
    if (limit !== undefined) {
      if (candidates[pos].comp.costMicro > limit) break;
      while (end > pos && candidates[end - 1].comp.costMicro > limit) end--;
    }
    await evaluate(candidates.slice(pos, end), 'search');
    pos = end;
    best = cheapestFeasible(points, input.target);
    input.onProgress?.('searching by cost', pos, candidates.length);
  }

  if (best) {
    const winner = best;
    const around: typeof candidates = [];
    const byCounts = new Map(comps.map((c) => [c.counts.join(','), c]));
    const add = (counts: number[]): void => {
      const comp = byCounts.get(counts.join(','));
      if (!comp || (input.budgetMicro !== undefined && comp.costMicro > input.budgetMicro)) return;
      if (seen.has(`${comp.index}/${winner.policyIndex}`) || around.some((a) => a.comp === comp)) return;
      around.push({ comp, policy: winner.policy, policyIndex: winner.policyIndex });
    };
    const n = winner.comp.counts;
    for (let t = 0; t < n.length; t++) {
      add(n.map((c, i) => (i === t ? c + 1 : c)));
      if (n[t] > 0) {
        add(n.map((c, i) => (i === t ? c - 1 : c)));
        for (let u = 0; u < n.length; u++) if (u !== t) add(n.map((c, i) => (i === t ? c - 1 : i === u ? c + 1 : c)));
      }
    }
    around.sort((a, b) => a.comp.costMicro - b.comp.costMicro || a.comp.index - b.comp.index);
    input.onProgress?.('refining around the frontier', 0, around.length);
    await evaluate(around, 'refine');
    best = cheapestFeasible(points, input.target);
  }
  return { capacities: caps, compositions: comps.length, overBudget, boundPruned, points, best, frontier: paretoFrontier(points) };
}

/** Requests in the workload and the span of their arrivals (first to last), seconds. */
export async function workloadExtent(workload: WorkloadFlags): Promise<{ requests: number; arrivalSpanS: number }> {
  let n = 0;
  let first = Infinity;
  let last = -Infinity;
  for await (const r of buildWorkload(workload).requests) {
    n++;
    first = Math.min(first, r.arrivalS);
    last = Math.max(last, r.arrivalS);
  }
  return { requests: n, arrivalSpanS: n > 0 ? last - first : 0 };
}
