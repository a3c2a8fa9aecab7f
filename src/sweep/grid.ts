import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULTS } from '../defaults.js';
import { parseSlo } from '../metrics/slo.js';
import { parseFleet } from '../profiles/fleet.js';
import { createPolicy } from '../routing/registry.js';
import { UserError } from '../util/errors.js';
import { parseMix } from '../workload/mix.js';
import { buildWorkload, type WorkloadFlags } from '../workload/workload.js';
import type { CellSpec } from './cell.js';

/** A policy on the policies axis: a name and its options. */
export interface GridPolicy {
  name: string;
  options: Record<string, string>;
}

/**
 * A sweep: one workload, and axes whose cartesian product is the cells. Cell order (and so each
 * cell's index) is policies × fleets × rates × seeds × slos, the last axis varying fastest.
 */
export interface Grid {
  file: string;
  /** Workload flags without the seed (the seeds axis supplies it). */
  workload: Omit<WorkloadFlags, 'seed'>;
  scrapeIntervalS: number;
  policies: GridPolicy[];
  fleets: string[];
  /** Arrival-rate multipliers (applied as a time scale of 1/x on the workload). */
  rates: number[];
  seeds: number[];
  /** SLO specs as `--slo` takes them; undefined = no SLO. */
  slos: (string | undefined)[];
}

/** A cell's coordinates, written in its CSV row so a resumed or merged file can be checked against the grid. */
export interface CellKey {
  index: number;
  policy: string;
  policyOptions: string;
  fleet: string;
  rate: number;
  seed: number;
  slo: string;
}

const WORKLOAD_KEYS: Record<string, keyof Omit<WorkloadFlags, 'seed'>> = {
  trace: 'trace',
  mix: 'mix',
  format: 'format',
  rate: 'rate',
  arrival: 'arrival',
  burstiness: 'burstiness',
  time_scale: 'timeScale',
  duration: 'duration',
  limit: 'limit',
  think_time: 'thinkTime',
  multi_turn: 'multiTurn',
};
const AXES = ['policies', 'fleets', 'rates', 'seeds', 'slos'] as const;
const OTHER_KEYS = ['scrape_interval'] as const;
const KNOWN = [...Object.keys(WORKLOAD_KEYS), ...AXES, ...OTHER_KEYS];

/** Reads and checks GRID.yaml; every mistake names the field, before any cell runs. */
export function loadGrid(path: string): Grid {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read the grid (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return parseGrid(doc, path);
}

export function parseGrid(doc: unknown, file: string): Grid {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${file}: expected a mapping with ${AXES.join(', ')}`);
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.includes(k)) throw new UserError(`${file}: ${k}: unknown field (known: ${KNOWN.join(', ')})`);
  }
  const base = dirname(resolve(file));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));

  const workload: Omit<WorkloadFlags, 'seed'> = {};
  for (const [key, flag] of Object.entries(WORKLOAD_KEYS)) {
    const v = o[key];
    if (v === undefined) continue;
    if (flag === 'multiTurn') {
      if (typeof v !== 'boolean') throw new UserError(`${file}: ${key}: expected true or false, got ${JSON.stringify(v)}`);
      workload.multiTurn = v;
    } else if (typeof v === 'string' || typeof v === 'number') {
      if (String(v).trim() === '') throw new UserError(`${file}: ${key}: is empty`);
      workload[flag] = String(v);
    } else {
      throw new UserError(`${file}: ${key}: expected a ${['trace', 'mix', 'format', 'arrival'].includes(key) ? 'string' : 'number'}, got ${JSON.stringify(v)}`);
    }
  }
  if (workload.trace === undefined && workload.mix === undefined) throw new UserError(`${file}: trace: required (or mix: FILE:RATE,...)`);
  if (workload.trace !== undefined) {
    workload.trace = at(workload.trace);
    if (!existsSync(workload.trace)) throw new UserError(`${file}: trace: ${workload.trace} does not exist`);
  }
  if (workload.mix !== undefined) {
    const entries = wrap(file, 'mix', () => parseMix(workload.mix as string));
    workload.mix = entries
      .map((e) => {
        const p = at(e.path);
        if (!existsSync(p)) throw new UserError(`${file}: mix: ${p} does not exist`);
        return `${p}:${e.rateRps}${e.format ? `:${e.format}` : ''}`;
      })
      .join(',');
  }
  // The workload's own rules (exclusive flags, number ranges), in the grid's words.
  wrap(file, 'workload', () => buildWorkload({ ...workload, seed: String(DEFAULTS.seed) }));

  const scrapeIntervalS = o.scrape_interval === undefined ? DEFAULTS.scrapeIntervalS : num(file, 'scrape_interval', o.scrape_interval, { min: 0 });

  const list = (axis: (typeof AXES)[number], fallback: unknown[] | null): unknown[] => {
    const v = o[axis];
    if (v === undefined) {
      if (fallback === null) throw new UserError(`${file}: ${axis}: required (a non-empty list)`);
      return fallback;
    }
    if (!Array.isArray(v)) throw new UserError(`${file}: ${axis}: expected a list, got ${JSON.stringify(v)}`);
    if (v.length === 0) throw new UserError(`${file}: ${axis}: is empty (give at least one value, or leave the axis out)`);
    return v;
  };

  const policies = list('policies', null).map((p, i): GridPolicy => {
    const where = `${file}: policies[${i}]`;
    let name: unknown;
    let options: Record<string, string> = {};
    if (typeof p === 'string') name = p;
    else if (typeof p === 'object' && p !== null && !Array.isArray(p)) {
      const q = p as Record<string, unknown>;
      for (const k of Object.keys(q)) if (k !== 'name' && k !== 'options') throw new UserError(`${where}.${k}: unknown field (known: name, options)`);
      name = q.name;
      if (q.options !== undefined) {
        if (typeof q.options !== 'object' || q.options === null || Array.isArray(q.options)) throw new UserError(`${where}.options: expected a mapping of option: value`);
        options = Object.fromEntries(Object.entries(q.options).map(([k, v]) => [k, String(v)]));
      }
    } else throw new UserError(`${where}: expected a policy name or {name, options}`);
    if (typeof name !== 'string' || name === '') throw new UserError(`${where}.name: expected a policy name`);
    wrap(where, 'name', () => createPolicy(name, options));
    return { name, options };
  });

  const fleets = list('fleets', null).map((f, i) => {
    if (typeof f !== 'string' || f.trim() === '') throw new UserError(`${file}: fleets[${i}]: expected a fleet spec such as l20:2,a10:1`);
    const spec = /\.(json|ya?ml)$/i.test(f) ? at(f) : f;
    wrap(`${file}: fleets[${i}]`, null, () => parseFleet(spec));
    return spec;
  });
  const rates = list('rates', [1]).map((r, i) => num(file, `rates[${i}]`, r, { above: 0 }));
  const seeds = list('seeds', [DEFAULTS.seed]).map((s, i) => num(file, `seeds[${i}]`, s, { integer: true }));
  const slos = list('slos', [null]).map((s, i) => {
    if (s === null) return undefined;
    if (typeof s !== 'string') throw new UserError(`${file}: slos[${i}]: expected an SLO such as ttft_ms=2000,tpot_ms=100 (or null for none)`);
    wrap(`${file}: slos[${i}]`, null, () => parseSlo(s));
    return s;
  });
  return { file, workload, scrapeIntervalS, policies, fleets, rates, seeds, slos };
}

function num(file: string, field: string, v: unknown, opts: { min?: number; above?: number; integer?: boolean }): number {
  const bad = typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.above !== undefined && v <= opts.above);
  if (bad) {
    const bound = opts.above !== undefined ? ` > ${opts.above}` : opts.min !== undefined ? ` >= ${opts.min}` : '';
    throw new UserError(`${file}: ${field}: expected ${opts.integer ? 'an integer' : 'a number'}${bound}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Re-raises a UserError from a shared parser with the grid's location in front. */
function wrap<T>(where: string, field: string | null, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${where}${field ? `: ${field}` : ''}: ${err.message}`);
    throw err;
  }
}

export function cellCount(g: Grid): number {
  return g.policies.length * g.fleets.length * g.rates.length * g.seeds.length * g.slos.length;
}

/** The coordinates of cell `index` (last axis fastest). */
export function cellKey(g: Grid, index: number): CellKey {
  let i = index;
  const pick = <T>(xs: readonly T[]): T => {
    const v = xs[i % xs.length];
    i = Math.floor(i / xs.length);
    return v;
  };
  const slo = pick(g.slos);
  const seed = pick(g.seeds);
  const rate = pick(g.rates);
  const fleet = pick(g.fleets);
  const policy = pick(g.policies);
  return {
    index,
    policy: policy.name,
    policyOptions: Object.entries(policy.options).map(([k, v]) => `${k}=${v}`).join(';'),
    fleet,
    rate,
    seed,
    slo: slo ?? '',
  };
}

/** The simulation a cell runs. */
export function cellSpec(g: Grid, key: CellKey): CellSpec {
  const baseScale = g.workload.timeScale === undefined ? 1 : Number(g.workload.timeScale);
  const timeScale = key.rate === 1 ? g.workload.timeScale : String(baseScale / key.rate);
  return {
    workload: { ...g.workload, ...(timeScale === undefined ? {} : { timeScale }), seed: String(key.seed) },
    fleet: key.fleet,
    policy: key.policy,
    policyOpt: key.policyOptions === '' ? [] : key.policyOptions.split(';'),
    scrapeIntervalS: g.scrapeIntervalS,
    slo: key.slo === '' ? undefined : key.slo,
  };
}

/** Which cells shard `shard` of `shards` runs: every N-th, so slow regions of the grid spread over shards. */
export function shardCells(total: number, shard: number, shards: number): number[] {
  const out: number[] = [];
  for (let i = shard; i < total; i += shards) out.push(i);
  return out;
}
