import { UserError } from '../util/errors.js';
import type { KvOffloadConfig } from '../engine/kv-offload.js';

/** What a worker does: `both` computes prompts and decodes (colocated); `prefill`/`decode` split them (disaggregated). */
export type WorkerRole = 'both' | 'prefill' | 'decode';

export const WORKER_ROLES: readonly WorkerRole[] = ['both', 'prefill', 'decode'];

/** A KV link a fleet file names (`kv_link`, `kv_links[].…`): any field absent falls back to the hardware default. */
export interface KvLinkSpec {
  gbps?: number;
  latencyUs?: number;
  /** Layer-by-layer send overlapping the prefill. */
  layerwise?: boolean;
}

/** Links a fleet file sets: one for every prefill→decode pair, and per pair of groups (entry names). */
export interface FleetKvLinks {
  all?: KvLinkSpec;
  /** Keyed `prefillGroup→decodeGroup`. */
  pairs: Map<string, KvLinkSpec>;
}

export function pairKey(prefillGroup: string, decodeGroup: string): string {
  return `${prefillGroup}→${decodeGroup}`;
}

export function parseRole(v: unknown, where: string): WorkerRole {
  if (typeof v !== 'string' || !(WORKER_ROLES as readonly string[]).includes(v)) {
    throw new UserError(`${where}: expected one of ${WORKER_ROLES.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as WorkerRole;
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${where}: expected an object`);
  return v as Record<string, unknown>;
}

function checkKeys(o: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new UserError(`${where}.${k}: unknown field (known: ${known.join(', ')})`);
}

function positive(o: Record<string, unknown>, k: string, where: string, allowZero = false): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new UserError(`${where}.${k}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** `{gbps, latency_us, layerwise}`. */
export function parseKvLink(v: unknown, where: string): KvLinkSpec {
  const o = object(v, where);
  checkKeys(o, ['gbps', 'latency_us', 'layerwise', 'prefill', 'decode'], where);
  if (o.layerwise !== undefined && typeof o.layerwise !== 'boolean') throw new UserError(`${where}.layerwise: expected true or false, got ${JSON.stringify(o.layerwise)}`);
  return { gbps: positive(o, 'gbps', where), latencyUs: positive(o, 'latency_us', where, true), layerwise: o.layerwise };
}

/** Top-level `kv_link` (every pair) and `kv_links: [{prefill: GROUP, decode: GROUP, gbps, latency_us, layerwise}]`. */
export function parseFleetKvLinks(doc: Record<string, unknown>, path: string, groups: ReadonlyMap<string, WorkerRole>): FleetKvLinks {
  const out: FleetKvLinks = { pairs: new Map() };
  if (doc.kv_link !== undefined) {
    const spec = parseKvLink(doc.kv_link, `${path}: kv_link`);
    out.all = spec;
  }
  if (doc.kv_links === undefined) return out;
  if (!Array.isArray(doc.kv_links)) throw new UserError(`${path}: kv_links: expected a list of {prefill, decode, gbps, latency_us}`);
  doc.kv_links.forEach((l, i) => {
    const where = `${path}: kv_links[${i}]`;
    const o = object(l, where);
    const spec = parseKvLink(o, where);
    for (const side of ['prefill', 'decode'] as const) {
      const g = o[side];
      if (typeof g !== 'string') throw new UserError(`${where}.${side}: expected the name of a worker entry`);
      const role = groups.get(g);
      if (role === undefined) throw new UserError(`${where}.${side}: no worker entry named "${g}" (entries: ${[...groups.keys()].join(', ')})`);
      const ok = side === 'prefill' ? role === 'prefill' : role !== 'prefill';
      if (!ok) throw new UserError(`${where}.${side}: "${g}" has role ${role}, expected ${side === 'prefill' ? 'prefill' : 'decode or both'}`);
    }
    out.pairs.set(pairKey(o.prefill as string, o.decode as string), spec);
  });
  return out;
}

/** `engine.kv_offload: {cpu_gib, cpu_gbps, disk_gib, disk_gbps}`: a tier's bandwidth is required with its capacity. */
export function parseKvOffload(v: unknown, where: string): KvOffloadConfig {
  const o = object(v, where);
  checkKeys(o, ['cpu_gib', 'cpu_gbps', 'disk_gib', 'disk_gbps'], where);
  const tier = (name: 'cpu' | 'disk'): { gib: number; gbps: number } => {
    const gib = positive(o, `${name}_gib`, where, true) ?? 0;
    const gbps = positive(o, `${name}_gbps`, where);
    if (gib > 0 && gbps === undefined) throw new UserError(`${where}.${name}_gbps: required with ${name}_gib (the ${name} tier's load bandwidth into the GPUs, GB/s)`);
    return { gib, gbps: gbps ?? 1 };
  };
  const cpu = tier('cpu');
  const disk = tier('disk');
  if (cpu.gib === 0 && disk.gib === 0) throw new UserError(`${where}: give cpu_gib and/or disk_gib (a tier's capacity, GiB)`);
  return { cpuGib: cpu.gib, cpuGbps: cpu.gbps, diskGib: disk.gib, diskGbps: disk.gbps };
}

/** Splits `--fleet 'prefill=h100-sxm:2;decode=h100-sxm:6'` into its role groups; a spec without `ROLE=` is one `both` group. */
export function splitRoleSpec(spec: string): { role: WorkerRole; spec: string }[] {
  if (!spec.includes('=')) return [{ role: 'both', spec }];
  return spec.split(';').map((raw) => {
    const part = raw.trim();
    const m = /^([a-z]+)=(.+)$/.exec(part);
    if (!m) throw new UserError(`--fleet "${part}": expected ROLE=GPU[:COUNT],... with ROLE one of ${WORKER_ROLES.join(', ')} (groups separated by ';')`);
    return { role: parseRole(m[1], `--fleet "${part}": role`), spec: m[2] };
  });
}
