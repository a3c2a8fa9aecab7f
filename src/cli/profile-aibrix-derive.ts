import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../defaults.js';
import { parseSlo, sloClassName, type SloSpec } from '../metrics/slo.js';
import { resolveDeployment } from '../profiles/catalog.js';
import type { FleetWorker } from '../profiles/fleet.js';
import { checkSloTablesMatch, sloTableFor } from '../routing/slo/attach.js';
import { parseModelGpuProfile, parseProfileText, ProfileTable, profileJson, type AibrixSlos, type ModelGpuProfileJson } from '../routing/slo/profile.js';
import type { ServeOptions } from '../serve/server.js';
import { sweepAibrixProfile, type SweepOptions } from '../sim/aibrix-sweep.js';
import { importedSloTables } from '../sim/simulator.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** `$ROUTER_CACHE_DIR`, else `~/.cache/router`. */
export function routerCacheDir(): string {
  const env = process.env.ROUTER_CACHE_DIR;
  return env !== undefined && env !== '' ? env : join(homedir(), DEFAULTS.cacheDir);
}

/** `--slo` (milliseconds) as the `slos` of an AIBrix profile (seconds). */
export function aibrixSlosOf(spec: SloSpec): AibrixSlos {
  const s = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1e3);
  const out: AibrixSlos = { percentile: spec.percentile };
  const ttft = s(spec.ttftMs);
  const tpot = s(spec.tpotMs);
  const e2e = s(spec.e2eMs);
  const tpat = s(spec.tpatMs);
  if (e2e !== undefined) out.e2e = e2e;
  if (ttft !== undefined) out.ttft = ttft;
  if (tpat !== undefined) out.tpat = tpat;
  if (tpot !== undefined) out.tpot = tpot;
  return out;
}

let codeHash: string | undefined;
/**
 * Fingerprint of the code a sweep runs (engine, step costs, simulator, sweep): tables cached by
 * an older engine are not reused after it changes. The compiled files beside this one are read.
 */
function simulatorFingerprint(): string {
  if (codeHash) return codeHash;
  const src = join(dirname(fileURLToPath(import.meta.url)), '..');
  const h = createHash('sha256');
  for (const dir of ['engine', 'profiles', 'sim']) {
    const d = join(src, dir);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).filter((x) => x.endsWith('.js')).sort()) h.update(f).update(readFileSync(join(d, f)));
  }
  codeHash = h.digest('hex');
  return codeHash;
}

/** The sweep a derivation runs: the export-aibrix defaults, a fixed seed, `created` 0 (content-addressed). */
function derivationSweep(slos: AibrixSlos, sharedPrefixTokens: number): SweepOptions {
  const d = DEFAULTS.aibrixSweep;
  return {
    outputs: d.outputs,
    inputs: d.inputs,
    rates: d.derivedRates,
    samples: d.samples,
    minTputFraction: d.minTputFraction,
    slos,
    seed: DEFAULTS.seed,
    created: 0,
    ...(sharedPrefixTokens > 0 ? { sharedPrefixTokens } : {}),
  };
}

/** Content hash of everything a derived table depends on: deployment (engine settings included), SLO, sweep, code. */
export function derivationKey(w: FleetWorker, sweep: SweepOptions): string {
  const { aibrix: _aibrix, source: _source, ...deployment } = w.deployment;
  const doc = JSON.stringify({ deployment, sweep, code: simulatorFingerprint() });
  return createHash('sha256').update(doc).digest('hex').slice(0, 32);
}

export interface DeriveOptions {
  slo: SloSpec;
  /** Cached prefix every sweep prompt shares (see SweepOptions.sharedPrefixTokens); default 0. */
  sharedPrefixTokens?: number;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface DerivedTables {
  tables: ProfileTable[];
  /** Deployments swept now / read from the cache. */
  built: string[];
  cached: string[];
}

/**
 * AIBrix tables for every distinct deployment among `workers`, derived by the `profile
 * export-aibrix` sweep on first use and cached under `routerCacheDir()` by content hash, so the
 * same (deployment, engine settings, SLO) is swept once per machine. Deterministic: the sweep has
 * a fixed seed and no wall-clock input, so a rebuilt table is byte-identical to the cached one.
 */
export async function deriveSloTables(workers: readonly FleetWorker[], o: DeriveOptions): Promise<DerivedTables> {
  const sweep = derivationSweep(aibrixSlosOf(o.slo), o.sharedPrefixTokens ?? 0);
  const seen = new Set<string>();
  const out: DerivedTables = { tables: [], built: [], cached: [] };
  for (const w of workers) {
    const name = w.deployment.name;
    if (seen.has(name)) continue;
    seen.add(name);
    const computed = await derivedTable(w, sweep, 'computed tokens', o.progress);
    const context = await derivedTable(w, { ...sweep, cachedContext: true }, 'cached context', o.progress);
    out.tables.push(new ProfileTable({ ...computed.table, gpu: name }, new ProfileTable({ ...context.table, gpu: name })));
    (computed.cached && context.cached ? out.cached : out.built).push(name);
  }
  return out;
}

/** One swept table of a deployment, from the cache or swept now (and cached). */
async function derivedTable(w: FleetWorker, sweep: SweepOptions, what: string, progress: DeriveOptions['progress']): Promise<{ table: ModelGpuProfileJson; cached: boolean }> {
  const name = w.deployment.name;
  const path = join(routerCacheDir(), 'slo-tables', `${derivationKey(w, sweep)}.json`);
  const hit = readCached(path);
  if (hit) return { table: hit, cached: true };
  const cells = sweep.outputs.length * sweep.inputs.length;
  progress?.(`router: deriving SLO tables (${what}) for ${name} (${cells} cells x up to ${sweep.rates.length} rates, ${sweep.samples} requests each; cached in ${dirname(path)})`);
  const started = performance.now();
  const p = await sweepAibrixProfile(w, sweep);
  progress?.(`router: derived SLO tables (${what}) for ${name} in ${((performance.now() - started) / 1e3).toFixed(1)} s`);
  try {
    writeFileAtomic(path, profileJson(p));
  } catch (err) {
    // A read-only home directory costs a rebuild next time, not this run.
    progress?.(`router: warning: could not cache SLO tables at ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return { table: p, cached: false };
}

/** A cached table, or undefined when absent or unreadable (then it is rebuilt and rewritten). */
function readCached(path: string): ReturnType<typeof parseModelGpuProfile> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return parseModelGpuProfile(parseProfileText(readFileSync(path, 'utf8'), path), path);
  } catch {
    return undefined;
  }
}

/** The slo* policies read SLO tables; the others do not need any. */
export function usesSloTables(policyName: string): boolean {
  return policyName === 'slo' || policyName.startsWith('slo-');
}

export interface SloSetup {
  /** The SLO runs are judged by (and derived tables built for); undefined = none given, none needed. */
  slo?: SloSpec;
  /** `tpot_ms=50,percentile=99` plus `(default)` when no --slo was given: what the summary names. */
  sloLabel?: string;
  /** Tables for the simulator or serve, weakest first: derived, then the operator's. */
  tables: ProfileTable[];
  derived?: DerivedTables;
}

/** The label a summary shows for an SLO. */
export function sloLabel(spec: SloSpec, isDefault: boolean): string {
  return `${sloClassName(spec)},percentile=${spec.percentile}${isDefault ? ' (default)' : ''}`;
}

/**
 * What an slo* policy needs to run with no set-up: the SLO (`--slo`, else DEFAULTS.slo, printed)
 * and a table for every worker, from `explicit` (--slo-profile, Redis) or the deployment's own
 * (`profile import-aibrix`), else derived and cached. Workers whose deployment cannot be swept
 * (none today: every fleet worker has a deployment) would keep no table and use the fallback.
 */
export async function sloSetup(policyName: string, sloFlag: string | undefined, fleet: readonly FleetWorker[], explicit: readonly ProfileTable[], progress: (line: string) => void): Promise<SloSetup> {
  const keys = fleet.map((w) => ({ profile: w.deployment.name, gpu: w.deployment.gpu.id }));
  checkSloTablesMatch(keys, explicit);
  if (!usesSloTables(policyName)) {
    const slo = sloFlag === undefined ? undefined : parseSlo(sloFlag);
    return { slo, sloLabel: slo ? sloLabel(slo, false) : undefined, tables: [...explicit] };
  }
  const isDefault = sloFlag === undefined;
  const slo = parseSlo(sloFlag ?? DEFAULTS.slo);
  if (isDefault) progress(`router: no --slo given: ${policyName} plans for, and the run is judged by, the default SLO ${sloLabel(slo, false)} (AIBrix's heterogeneous-GPU scenario)`);
  const have = [...importedSloTables(fleet), ...explicit];
  const bare = fleet.filter((w) => sloTableFor({ profile: w.deployment.name, gpu: w.deployment.gpu.id }, have) === undefined);
  const derived = bare.length > 0 ? await deriveSloTables(bare, { slo, progress }) : undefined;
  return { slo, sloLabel: sloLabel(slo, isDefault), tables: [...(derived?.tables ?? []), ...explicit], derived };
}

/** What serve knows of a worker: the labels its tables are matched and derived by. */
export interface LabelledWorker {
  gpu?: string;
  profile?: string;
  model?: string;
}

/**
 * `serve` with an slo* policy: each worker's table comes from `explicit` (--slo-profile), else it
 * is derived from the deployment its labels name (`profile=`, else `gpu=` with `model=`) and
 * named after that label, as serve matches tables (profile label, else gpu). A worker whose
 * labels name no known deployment keeps no table: only then does the fallback apply to it.
 */
export async function serveSloSetup(policyName: string, sloFlag: string | undefined, workers: readonly LabelledWorker[], explicit: readonly ProfileTable[], progress: (line: string) => void): Promise<SloSetup & { unresolved: string[] }> {
  if (!usesSloTables(policyName)) {
    const slo = sloFlag === undefined ? undefined : parseSlo(sloFlag);
    return { slo, sloLabel: slo ? sloLabel(slo, false) : undefined, tables: [...explicit], unresolved: [] };
  }
  const isDefault = sloFlag === undefined;
  const slo = parseSlo(sloFlag ?? DEFAULTS.slo);
  if (isDefault) progress(`router: no --slo given: ${policyName} plans for, and requests are judged by, the default SLO ${sloLabel(slo, false)} (AIBrix's heterogeneous-GPU scenario)`);
  const wanted = new Map<string, FleetWorker>();
  const unresolved: string[] = [];
  for (const w of workers) {
    const label = w.profile ?? w.gpu;
    if (label === undefined || wanted.has(label)) continue;
    if (sloTableFor({ profile: w.profile ?? 'unknown', gpu: w.gpu ?? 'unknown' }, explicit)) continue;
    try {
      const deployment = resolveDeployment(w.profile !== undefined ? { profile: w.profile, where: `worker label profile=${w.profile}` } : { gpu: w.gpu, model: w.model, where: `worker label gpu=${w.gpu}` });
      wanted.set(label, { name: label, deployment });
    } catch {
      unresolved.push(label);
    }
  }
  const derived = wanted.size > 0 ? await deriveSloTables([...wanted.values()], { slo, progress }) : undefined;
  const byDeployment = new Map((derived?.tables ?? []).map((t) => [t.deployment, t]));
  const named: ProfileTable[] = [];
  for (const [label, w] of wanted) {
    const t = byDeployment.get(w.deployment.name);
    if (t) named.push(t.renamed(label));
  }
  return { slo, sloLabel: sloLabel(slo, isDefault), tables: [...named, ...explicit], derived, unresolved };
}

/**
 * Completes serve's options for an slo* policy (no set-up): the SLO every request is judged by
 * (--slo, else the default, printed) and a table for every statically listed worker, derived
 * from its labels when --slo-profile has none for it. Workers discovered later (Kubernetes) get
 * tables from --slo-profile or Redis only.
 */
export async function completeServeSloOptions(o: ServeOptions, sloFlag: string | undefined, progress: (line: string) => void): Promise<void> {
  const setup = await serveSloSetup(o.policy.name, sloFlag, o.workers, o.sloProfiles ?? [], progress);
  if (setup.slo) o.slo = { ttftMs: setup.slo.ttftMs, tpotMs: setup.slo.tpotMs, e2eMs: setup.slo.e2eMs, tpatMs: setup.slo.tpatMs };
  o.sloProfiles = setup.tables;
  for (const label of setup.unresolved) progress(`router: note: worker label "${label}" names no known deployment (GPU or profile), so no SLO tables can be derived for it`);
}
