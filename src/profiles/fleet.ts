import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../util/errors.js';
import type { Deployment } from './types.js';
import { gpuCatalog, parseEngineOverrides, resolveDeployment, shippedDeployments } from './catalog.js';
import { parseFleetKvLinks, parseKvOffload, parseRole, splitRoleSpec, type FleetKvLinks, type WorkerRole } from './fleet-pd.js';

export interface FleetWorker {
  name: string;
  deployment: Deployment;
  /** Absent = `both` (colocated). */
  role?: WorkerRole;
  /** The fleet entry it came from (its name, else its GPU id), as `kv_links` name it. */
  group?: string;
  /** KV links the fleet file set (one object shared by the fleet's workers). */
  kvLinks?: FleetKvLinks;
}

const WORKER_KEYS = new Set(['name', 'gpu', 'model', 'count', 'tp', 'cost_usd_per_hour', 'engine', 'profile', 'role']);

/**
 * A fleet from `--fleet`: either `GPU[:COUNT],...` (model defaults to llama-3.1-8b; a shipped
 * profile name such as `qwen3-32b@h100-sxm-tp2` works in place of a GPU), or a JSON/YAML file
 * `{"workers":[{"name","gpu","model","count","tp","cost_usd_per_hour","profile","engine":{...}}]}`.
 */
export function parseFleet(spec: string): FleetWorker[] {
  if (/\.(json|ya?ml)$/i.test(spec)) return parseFleetFile(spec);
  const workers: FleetWorker[] = [];
  const seen = new Map<string, number>();
  // `prefill=GPU:N;decode=GPU:M`: each group's workers are named after their role.
  for (const group of splitRoleSpec(spec)) parseGroup(group.spec, group.role, workers, seen);
  return workers;
}

function parseGroup(spec: string, role: WorkerRole, workers: FleetWorker[], seen: Map<string, number>): void {
  const prefix = role === 'both' ? '' : `${role}-`;
  const before = workers.length;
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    const m = /^([A-Za-z0-9._@-]+)(?::(\d+))?$/.exec(part);
    if (!m) throw new UserError(`--fleet "${part}": expected GPU[:COUNT] (e.g. l20:4) or a fleet file (.json/.yaml)`);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count < 1) throw new UserError(`--fleet "${part}": count must be at least 1`);
    const isProfile = shippedDeployments().has(m[1]);
    // MODEL@GPU names a profile: list the shipped ones rather than call it an unknown GPU.
    if (!isProfile && m[1].includes('@')) {
      throw new UserError(`--fleet ${part}: no shipped profile "${m[1]}" (shipped: ${[...shippedDeployments().keys()].join(', ')}); or give a GPU id (${[...gpuCatalog().keys()].join(', ')}) or a fleet file`);
    }
    const deployment = resolveDeployment(isProfile ? { profile: m[1], where: `--fleet ${part}` } : { gpu: m[1], where: `--fleet ${part}` });
    addWorkers(workers, seen, `${prefix}${isProfile ? deployment.gpu.id : m[1]}`, count, deployment);
  }
  if (role !== 'both') for (let i = before; i < workers.length; i++) workers[i].role = role;
}

function addWorkers(out: FleetWorker[], seen: Map<string, number>, base: string, count: number, deployment: Deployment): void {
  for (let i = 0; i < count; i++) {
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ name: `${base}-${n}`, deployment, group: base });
  }
}

export function parseFleetFile(path: string): FleetWorker[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read fleet file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UserError(`${path}: not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { workers?: unknown }).workers)) {
    throw new UserError(`${path}: expected an object with a "workers" array`);
  }
  const list = (doc as { workers: unknown[] }).workers;
  if (list.length === 0) throw new UserError(`${path}: "workers" is empty`);
  const workers: FleetWorker[] = [];
  const seen = new Map<string, number>();
  const groups = new Map<string, WorkerRole>();
  list.forEach((w, i) => {
    const where = `${path}: workers[${i}]`;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new UserError(`${where}: expected an object`);
    const o = w as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!WORKER_KEYS.has(k)) throw new UserError(`${where}.${k}: unknown field (known: ${[...WORKER_KEYS].join(', ')})`);
    }
    const str = (k: string): string | undefined => {
      if (o[k] === undefined) return undefined;
      if (typeof o[k] !== 'string' || o[k] === '') throw new UserError(`${where}.${k}: expected a non-empty string`);
      return o[k];
    };
    const num = (k: string, integer: boolean): number | undefined => {
      if (o[k] === undefined) return undefined;
      const v = o[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && (!Number.isInteger(v) || v < 1))) {
        throw new UserError(`${where}.${k}: expected ${integer ? 'a positive integer' : 'a non-negative number'}, got ${JSON.stringify(v)}`);
      }
      return v;
    };
    const gpu = str('gpu');
    const profile = str('profile');
    if (!gpu && !profile) throw new UserError(`${where}.gpu: required (a GPU id such as l20, or give "profile")`);
    // kv_offload is the engine's, but not a vLLM engine override: read it here.
    let engine = o.engine;
    let kvOffload;
    if (typeof engine === 'object' && engine !== null && !Array.isArray(engine) && 'kv_offload' in engine) {
      const { kv_offload: off, ...rest } = engine as Record<string, unknown>;
      kvOffload = parseKvOffload(off, `${where}.engine.kv_offload`);
      engine = rest;
    }
    let deployment = resolveDeployment({
      gpu,
      profile,
      model: str('model'),
      tp: num('tp', true),
      cost_usd_per_hour: num('cost_usd_per_hour', false),
      engine: parseEngineOverrides(engine, `${where}.engine`),
      where,
    });
    if (kvOffload) deployment = { ...deployment, engine: { ...deployment.engine, kvOffload } };
    const role = o.role === undefined ? 'both' : parseRole(o.role, `${where}.role`);
    const count = num('count', true) ?? 1;
    const name = str('name');
    const before = workers.length;
    if (name && count === 1) {
      if (seen.has(name)) throw new UserError(`${where}.name: "${name}" is used twice`);
      seen.set(name, 1);
      workers.push({ name, deployment, group: name });
    } else addWorkers(workers, seen, name ?? deployment.gpu.id, count, deployment);
    const group = workers[before].group as string;
    if (groups.has(group) && groups.get(group) !== role) throw new UserError(`${where}.role: entries named "${group}" have different roles`);
    groups.set(group, role);
    if (role !== 'both') for (let k = before; k < workers.length; k++) workers[k].role = role;
  });
  const kvLinks = parseFleetKvLinks(doc as Record<string, unknown>, path, groups);
  if (kvLinks.all !== undefined || kvLinks.pairs.size > 0) for (const w of workers) w.kvLinks = kvLinks;
  return workers;
}
