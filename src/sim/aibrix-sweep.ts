import type { FleetWorker } from '../profiles/fleet.js';
import { createPolicy } from '../routing/registry.js';
import type { AibrixSlos, ModelGpuProfileJson } from '../routing/slo/profile.js';
import { quantile } from '../util/stats.js';
import { syntheticRequests } from '../workload/synthetic.js';
import { Simulation } from './simulator.js';
import type { RequestLog } from '../metrics/request-log.js';

export interface SweepOptions {
  /** Output-token buckets (table rows) and input-token buckets (columns). */
  outputs: readonly number[];
  inputs: readonly number[];
  /** Request rates tried per cell, requests/s. */
  rates: readonly number[];
  /** Poisson requests per (cell, rate) point. */
  samples: number;
  /** A rate survives only if its measured throughput is at least this fraction of it. */
  minTputFraction: number;
  slos: AibrixSlos;
  seed: number;
  /** Unix seconds written as `created` (the caller owns the wall clock). */
  created: number;
  /**
   * Tokens of a prefix every sweep prompt shares (cached after the first request), on top of the
   * cell's input tokens: the tables are then indexed by the tokens a worker computes, measured
   * with the long cached context a prefix-sharing workload keeps in KV and reads in attention.
   * 0 (default) sweeps unshared prompts, as AIBrix's benchmark does.
   */
  sharedPrefixTokens?: number;
  /**
   * Sweep a cached-context table instead: a cell's input tokens are the whole prompt, all of it
   * but one engine block a prefix every sweep prompt shares (so cached after the first request).
   * The cells then measure what a long *cached* context costs (KV held, attention read at every
   * decode step) with almost no prefill: the companion of the computed-tokens table that a
   * prefix-sharing request (a text-to-SQL schema, a system prompt) is also charged by.
   */
  cachedContext?: boolean;
}

/** What one (cell, rate) point measured. */
export interface SweepPoint {
  rate: number;
  tput: number;
  e2eMean: number;
  ttftMean: number;
  meetsSlo: boolean;
}

function metric(values: Float64Array, percentile: number): number {
  if (values.length === 0) return Infinity;
  if (percentile <= 0) return values.reduce((a, b) => a + b, 0) / values.length;
  return quantile(Float64Array.from(values).sort(), percentile / 100);
}

/** Runs `samples` Poisson requests of one shape at one rate on one simulated worker. */
export async function sweepPoint(worker: FleetWorker, input: number, output: number, rate: number, o: SweepOptions): Promise<SweepPoint> {
  const block = worker.deployment.engine.blockSize;
  // Cached-context cells: the prompt is `input` tokens of which all but the last block are shared.
  const shared = o.cachedContext ? Math.max(0, input - block) : (o.sharedPrefixTokens ?? 0);
  const computed = o.cachedContext ? input - shared : input;
  const sim = new Simulation({
    fleet: [worker],
    policy: createPolicy('round-robin'),
    requests: syntheticRequests({
      seed: o.seed,
      rate,
      count: o.samples,
      input: { kind: 'fixed', mean: computed },
      output: { kind: 'fixed', mean: output },
      ...(shared > 0 ? { sharedPrefix: { groups: 1, prefixTokens: shared, blockTokens: block } } : {}),
    }),
    seed: o.seed,
    scrapeIntervalS: 0,
    timeseriesIntervalS: Number.MAX_VALUE,
  });
  const { summary, log } = await sim.run();
  const e2e = log.completedValues(log.e2eMs).map((x) => x / 1e3);
  const ttft = log.completedValues(log.ttftMs).map((x) => x / 1e3);
  const tpot = log.completedValues(log.tpotMs).map((x) => x / 1e3);
  const tpat = e2e.map((x) => x / (computed + shared + output));
  const s = o.slos;
  const p = s.percentile;
  // Like gen_profile: every SLO given must hold at the percentile (or on the mean when 0).
  const meetsSlo =
    log.rejected === 0 &&
    (s.e2e === undefined || metric(e2e, p) <= s.e2e) &&
    (s.ttft === undefined || metric(ttft, p) <= s.ttft) &&
    (s.tpot === undefined || output <= 1 || metric(tpot, p) <= s.tpot) &&
    (s.tpat === undefined || metric(tpat, p) <= s.tpat);
  return { rate, tput: sustainedThroughput(log, e2e, summary.completed), e2eMean: metric(e2e, 0), ttftMean: metric(ttft, 0), meetsSlo };
}

/**
 * Completions per second the worker sustained: requests over the arrival span, stretched by how
 * far the last completion lags one mean service time behind the last arrival (a backlog). Plain
 * completed / (first arrival → last completion) charges a short benchmark one request's latency
 * as if it were lost capacity: with 100 requests it caps a stable worker at ~11 in flight.
 */
function sustainedThroughput(log: RequestLog, e2eS: Float64Array, completed: number): number {
  if (completed === 0) return 0;
  let first = Infinity;
  let last = -Infinity;
  let lastEnd = -Infinity;
  for (let i = 0; i < log.length; i++) {
    const a = log.arrivalS.get(i);
    first = Math.min(first, a);
    last = Math.max(last, a);
    const e = log.e2eMs.get(i);
    if (Number.isFinite(e)) lastEnd = Math.max(lastEnd, a + e / 1e3);
  }
  const backlog = Math.max(0, lastEnd - last - metric(e2eS, 0));
  const span = last - first + backlog;
  return span > 0 ? completed / span : completed;
}

/**
 * Builds an AIBrix ModelGPUProfile for one deployment the way gen_profile does from a benchmark
 * sweep: per (output, input) cell, keep the rates that meet the SLOs and whose throughput is at
 * least 90 % of the rate; `tputs` = measured throughput at the highest such rate (0 if none),
 * `e2e` (and `ttft` with a TTFT SLO) = the mean there. A cell no rate satisfies keeps the mean at
 * the lowest rate, so the E2E table has no holes (the shipped AIBrix profiles have none either).
 *
 * Unlike gen_profile, which runs every rate, the highest passing rate is found by binary search:
 * latency and the throughput shortfall only grow with the rate on one worker, so a rate above a
 * failing one could not survive. That is log2(rates) runs per cell instead of all of them (the
 * slo policies derive tables on first use, so the sweep is on their start-up path).
 */
export async function sweepAibrixProfile(worker: FleetWorker, o: SweepOptions): Promise<ModelGpuProfileJson> {
  const tputs: number[][] = [];
  const e2e: number[][] = [];
  const ttft: number[][] = [];
  for (const out of o.outputs) {
    const rowT: number[] = [];
    const rowE: number[] = [];
    const rowF: number[] = [];
    for (const inp of o.inputs) {
      // Binary search for the highest passing rate: rates[lo] passes (lo = -1: none known to), rates[hi] fails.
      const points = new Map<number, SweepPoint>();
      const at = async (i: number): Promise<SweepPoint> => {
        let pt = points.get(i);
        if (!pt) {
          pt = await sweepPoint(worker, inp, out, o.rates[i], o);
          points.set(i, pt);
        }
        return pt;
      };
      let lo = -1;
      let hi = o.rates.length;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const pt = await at(mid);
        if (pt.meetsSlo && pt.tput >= o.minTputFraction * o.rates[mid]) lo = mid;
        else hi = mid;
      }
      const best = lo >= 0 ? await at(lo) : undefined;
      const shown = best ?? (o.rates.length > 0 ? await at(0) : undefined);
      rowT.push(best ? best.tput : 0);
      rowE.push(shown ? shown.e2eMean : 0);
      rowF.push(shown ? shown.ttftMean : 0);
    }
    tputs.push(rowT);
    e2e.push(rowE);
    ttft.push(rowF);
  }
  const p: ModelGpuProfileJson = {
    gpu: worker.deployment.name,
    cost: worker.deployment.costUsdPerHour,
    tputs,
    indexes: [[...o.outputs], [...o.inputs]],
    created: o.created,
    e2e,
  };
  if (o.slos.ttft !== undefined) p.ttft = ttft;
  p.slos = o.slos;
  return p;
}
