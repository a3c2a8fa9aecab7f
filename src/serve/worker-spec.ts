import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../util/errors.js';
import { checkZmqEndpoint } from '../util/zmq-endpoint.js';
import { DEFAULTS } from '../defaults.js';
import { deploymentName, getGpu, shippedDeployments } from '../profiles/catalog.js';

/** One upstream engine as the operator describes it. */
export interface WorkerSpec {
  url: string;
  name?: string;
  gpu?: string;
  profile?: string;
  model?: string;
  costUsdPerHour?: number;
  /** Bearer key serve sends to this worker. */
  apiKey?: string;
  /** ZMQ endpoint of the engine's KV event publisher (vLLM --kv-events-config), for precise prefix routing. */
  kvEvents?: string;
  /** Where the worker came from (shown in `GET /workers`); static when absent. */
  source?: 'static' | 'admin' | 'kubernetes';
  /** Discovered workers: the pod ("namespace/name") and its role label, if any. */
  pod?: string;
  role?: string;
  /** SGLang disaggregation: the prefill server's bootstrap port (default 8998). */
  bootstrapPort?: number;
}

export interface ServeConfigFile {
  workers: WorkerSpec[];
  policy?: string;
  policyOpts?: Record<string, string>;
}

const LABELS: Record<string, 'name' | 'gpu' | 'profile' | 'model' | 'costUsdPerHour' | 'apiKey' | 'kvEvents' | 'role' | 'bootstrapPort'> = {
  name: 'name',
  gpu: 'gpu',
  profile: 'profile',
  model: 'model',
  cost: 'costUsdPerHour',
  cost_usd_per_hour: 'costUsdPerHour',
  api_key: 'apiKey',
  kv_events: 'kvEvents',
  role: 'role',
  bootstrap_port: 'bootstrapPort',
};

/** Worker roles of disaggregated serving (`both` = an ordinary, colocated worker). */
export const WORKER_ROLES = ['prefill', 'decode', 'both'] as const;

/** Checks a worker URL: http(s), a host, no query or fragment. */
export function checkWorkerUrl(raw: string, where: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UserError(`${where}: "${raw}" is not a URL (expected http://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`${where}: "${raw}" must be http:// or https://`);
  if (u.search || u.hash || u.username) throw new UserError(`${where}: "${raw}" must not carry a query, fragment or credentials`);
  return u.origin + u.pathname.replace(/\/+$/, '');
}

function setLabel(spec: WorkerSpec, key: string, value: string, where: string): void {
  const field = LABELS[key];
  if (!field) throw new UserError(`${where}: unknown label "${key}" (known: ${Object.keys(LABELS).join(', ')})`);
  if (value === '') throw new UserError(`${where}: label "${key}" is empty`);
  if (field === 'costUsdPerHour') {
    const v = Number(value);
    if (!Number.isFinite(v) || v < 0) throw new UserError(`${where}: label cost expects a non-negative number (USD per hour), got "${value}"`);
    spec.costUsdPerHour = v;
  } else if (field === 'kvEvents') {
    spec.kvEvents = checkZmqEndpoint(value, `${where}: label kv_events`);
  } else if (field === 'bootstrapPort') {
    const v = Number(value);
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new UserError(`${where}: label bootstrap_port expects a port number (1-65535), got "${value}"`);
    spec.bootstrapPort = v;
  } else if (field === 'role') {
    if (!(WORKER_ROLES as readonly string[]).includes(value)) throw new UserError(`${where}: label role expects ${WORKER_ROLES.join(', ')}, got "${value}"`);
    spec.role = value;
  } else {
    spec[field] = value;
  }
}

/**
 * Checks the `gpu` label against the hardware catalog (as `simulate --fleet` does) and fills in
 * what a known GPU implies: its cost per hour, and the shipped deployment profile of the
 * worker's model (default model when unlabelled) on it, else the GPU id.
 */
export function completeSpec(spec: WorkerSpec, where: string): WorkerSpec {
  if (spec.gpu === undefined) return spec;
  const gpu = getGpu(spec.gpu, `${where}: label gpu`);
  spec.costUsdPerHour ??= gpu.cost_usd_per_hour;
  if (spec.profile === undefined) {
    const name = deploymentName(spec.model ?? DEFAULTS.model, gpu.id, 1);
    spec.profile = shippedDeployments().has(name) ? name : gpu.id;
  }
  return spec;
}

/** `--workers URL[;label=value...][,URL...]`, labels name, gpu, profile, model, cost, api_key, kv_events, role, bootstrap_port. */
export function parseWorkersFlag(flag: string, name = '--workers'): WorkerSpec[] {
  const out: WorkerSpec[] = [];
  for (const part of flag.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const [url, ...labels] = item.split(';');
    const where = `${name} "${item}"`;
    const spec: WorkerSpec = { url: checkWorkerUrl(url.trim(), where) };
    for (const l of labels) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw new UserError(`${where}: expected label=value after ";", got "${l}"`);
      setLabel(spec, l.slice(0, eq).trim(), l.slice(eq + 1).trim(), where);
    }
    out.push(completeSpec(spec, where));
  }
  if (out.length === 0) throw new UserError(`${name}: give at least one worker URL`);
  return out;
}

const FILE_KEYS = new Set(['workers', 'policy', 'policy_opts']);
const WORKER_KEYS = new Set(['url', ...Object.keys(LABELS)]);

/** Parses one worker object from a config file or the admin API. */
export function workerFromObject(o: unknown, where: string): WorkerSpec {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${where}: expected an object with "url"`);
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (!WORKER_KEYS.has(k)) throw new UserError(`${where}.${k}: unknown field (known: ${[...WORKER_KEYS].join(', ')})`);
  }
  if (typeof rec.url !== 'string') throw new UserError(`${where}.url: expected a string`);
  const spec: WorkerSpec = { url: checkWorkerUrl(rec.url, `${where}.url`) };
  for (const [k, v] of Object.entries(rec)) {
    if (k === 'url') continue;
    if (typeof v !== 'string' && typeof v !== 'number') throw new UserError(`${where}.${k}: expected a string or number`);
    setLabel(spec, k, String(v), `${where}.${k}`);
  }
  return completeSpec(spec, where);
}

/** `--config FILE` (YAML or JSON): `{workers: [{url, name, gpu, profile, model, cost, api_key}], policy, policy_opts}`. */
export function parseServeConfig(path: string): ServeConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--config ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const json = /\.json$/i.test(path);
  let doc: unknown;
  try {
    doc = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UserError(`--config ${path}: not valid ${json ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`--config ${path}: expected an object with a "workers" list`);
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!FILE_KEYS.has(k)) throw new UserError(`--config ${path}: unknown key "${k}" (known: ${[...FILE_KEYS].join(', ')})`);
  }
  // No "workers" is fine when they are discovered (--k8s-selector); the CLI checks there are some.
  if (o.workers !== undefined && !Array.isArray(o.workers)) throw new UserError(`--config ${path}: "workers" must be a list`);
  const cfg: ServeConfigFile = { workers: ((o.workers ?? []) as unknown[]).map((w, i) => workerFromObject(w, `--config ${path}: workers[${i}]`)) };
  if (o.policy !== undefined) {
    if (typeof o.policy !== 'string') throw new UserError(`--config ${path}: "policy" must be a string`);
    cfg.policy = o.policy;
  }
  if (o.policy_opts !== undefined) {
    if (typeof o.policy_opts !== 'object' || o.policy_opts === null || Array.isArray(o.policy_opts)) {
      throw new UserError(`--config ${path}: "policy_opts" must be a map of option to value`);
    }
    cfg.policyOpts = Object.fromEntries(Object.entries(o.policy_opts).map(([k, v]) => [k, String(v)]));
  }
  return cfg;
}
