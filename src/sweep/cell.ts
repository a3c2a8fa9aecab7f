import { DEFAULTS } from '../defaults.js';
import { parseFleet } from '../profiles/fleet.js';
import { createPolicy } from '../routing/registry.js';
import { Simulation } from '../sim/simulator.js';
import { parseSlo } from '../metrics/slo.js';
import { buildWorkload, type WorkloadFlags } from '../workload/workload.js';
import type { Request } from '../workload/request.js';
import { summaryRow } from '../report/csv.js';
import type { Summary } from '../metrics/summary.js';

/**
 * Everything one simulation of a sweep or a plan needs, as plain data (it crosses to worker
 * threads): the same inputs `router simulate` takes, so a cell is reproduced by the command
 * `simulateCommand` prints.
 */
export interface CellSpec {
  /** Workload flags as `router simulate` takes them (strings), seed included. */
  workload: WorkloadFlags;
  fleet: string;
  policy: string;
  /** Policy options, `key=value`. */
  policyOpt: string[];
  scrapeIntervalS: number;
  slo?: string;
}

/** What a cell reports: summary.csv's columns (without the wall time, which no two runs share) and the fleet's price. */
export interface CellOutcome {
  costPerHour: number;
  cells: Record<string, string>;
  summary: Summary;
}

/**
 * Requests of one workload, kept after the first cell that reads them: reading and tokenising a
 * ShareGPT/BIRD mix costs far more than simulating it, and every cell of a sweep with the same
 * workload flags reads the same requests (they are immutable). Bounded in entries and requests.
 */
export class WorkloadCache {
  private readonly entries = new Map<string, readonly Request[]>();
  constructor(
    private readonly maxEntries = 4,
    private readonly maxRequests = 500_000,
  ) {}

  async requests(flags: WorkloadFlags): Promise<AsyncIterable<Request> | readonly Request[]> {
    const key = workloadKey(flags);
    const hit = this.entries.get(key);
    if (hit) {
      // Refresh its place in the LRU order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const list: Request[] = [];
    for await (const r of buildWorkload(flags, DEFAULT_TRACE_UNSET).requests) {
      if (list.length >= this.maxRequests) return buildWorkload(flags).requests;
      list.push(r);
    }
    this.entries.set(key, list);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return list;
  }
}

// Grids always name their trace; buildWorkload's default-trace fallback is not used here.
const DEFAULT_TRACE_UNSET = undefined;

function workloadKey(f: WorkloadFlags): string {
  const keys = Object.keys(f).sort() as (keyof WorkloadFlags)[];
  return JSON.stringify(keys.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]));
}

/** Fleet price per hour, USD (what the sweep and plan rank by). */
export function fleetCostPerHour(fleet: string): number {
  return parseFleet(fleet).reduce((a, w) => a + w.deployment.costUsdPerHour, 0);
}

/** Runs one cell exactly as `router simulate` would with the same flags. */
export async function runCell(spec: CellSpec, cache: WorkloadCache): Promise<CellOutcome> {
  const fleet = parseFleet(spec.fleet);
  const options: Record<string, string> = {};
  for (const kv of spec.policyOpt) {
    const at = kv.indexOf('=');
    options[kv.slice(0, at)] = kv.slice(at + 1);
  }
  const sim = new Simulation({
    fleet,
    policy: createPolicy(spec.policy, options),
    requests: await cache.requests(spec.workload),
    seed: Number(spec.workload.seed),
    scrapeIntervalS: spec.scrapeIntervalS,
    timeseriesIntervalS: DEFAULTS.timeseriesIntervalS,
    slo: spec.slo === undefined ? undefined : parseSlo(spec.slo),
  });
  const result = await sim.run();
  const { wall_s: _wall, policy: _policy, ...cells } = summaryRow(result.summary);
  return { costPerHour: fleet.reduce((a, w) => a + w.deployment.costUsdPerHour, 0), cells, summary: result.summary };
}

const WORKLOAD_FLAG_NAMES: readonly [keyof WorkloadFlags, string][] = [
  ['trace', '--trace'],
  ['mix', '--mix'],
  ['format', '--format'],
  ['rate', '--rate'],
  ['arrival', '--arrival'],
  ['burstiness', '--burstiness'],
  ['timeScale', '--time-scale'],
  ['duration', '--duration'],
  ['limit', '--limit'],
  ['thinkTime', '--think-time'],
];

/** The `router simulate` command line that reproduces a cell. */
export function simulateCommand(spec: CellSpec): string {
  const args = ['router', 'simulate'];
  for (const [k, flag] of WORKLOAD_FLAG_NAMES) {
    const v = spec.workload[k];
    if (typeof v === 'string') args.push(flag, v);
  }
  if (spec.workload.multiTurn) args.push('--multi-turn');
  args.push('--fleet', spec.fleet, '--policy', spec.policy);
  for (const o of spec.policyOpt) args.push('--policy-opt', o);
  args.push('--seed', spec.workload.seed);
  if (spec.scrapeIntervalS !== DEFAULTS.scrapeIntervalS) args.push('--scrape-interval', String(spec.scrapeIntervalS));
  if (spec.slo !== undefined) args.push('--slo', spec.slo);
  return args.map(shellQuote).join(' ');
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
