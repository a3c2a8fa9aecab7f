import { UserError } from '../../util/errors.js';

/** One priority class; classes are listed highest first (rank 0 is served first). */
export interface PriorityClass {
  readonly name: string;
  /** Share of dequeues under weighted-fair dequeue (relative to the other classes' weights). */
  readonly weight: number;
  /** Share of `max_in_flight` kept for this class and those above it: lower classes never use it. */
  readonly reserved: number;
}

/** `fifo`: one queue in arrival order, classes only label requests (no pre-emption, no reserved capacity): the baseline. */
export type DequeueMode = 'strict' | 'weighted' | 'fifo';

export interface PriorityConfig {
  readonly classes: readonly PriorityClass[];
  /** Class of a request that names none (and of a tenant that names none). */
  readonly defaultClass: string;
  readonly dequeue: DequeueMode;
  /** Strict dequeue: a request that has waited this long ranks one class higher per period (Infinity = no aging). */
  readonly agingS: number;
  /** Requests the router keeps in flight at once over the fleet (Infinity = the policy decides); the base of `reserved`. */
  readonly maxInFlight: number;
  /** A full queue makes room for a higher-class arrival by answering the newest lowest-class waiter 503. */
  readonly preempt: boolean;
  /** Router queue bounds; undefined = the policy's (or unbounded). */
  readonly queueMax?: number;
  readonly queueTimeoutS?: number;
}

/** Per-tenant limits; each absent one is unlimited. */
export interface TenantLimits {
  readonly requestsPerS?: number;
  readonly burstRequests?: number;
  readonly tokensPerMin?: number;
  readonly burstTokens?: number;
}

export interface TenantConfig {
  readonly name: string;
  /** API keys that identify the tenant in serve. */
  readonly keys: readonly string[];
  /** Class of the tenant's requests that name none. */
  readonly priority?: string;
  /** Highest class the tenant may ask for with `x-priority` (default: its own `priority`, else any). */
  readonly maxPriority?: string;
  readonly limits: TenantLimits;
}

export interface AdmissionConfig {
  readonly priorities: PriorityConfig;
  readonly tenants: readonly TenantConfig[];
}

export const DEFAULT_CLASSES: readonly PriorityClass[] = [
  { name: 'critical', weight: 8, reserved: 0 },
  { name: 'standard', weight: 4, reserved: 0 },
  { name: 'sheddable', weight: 1, reserved: 0 },
];

type Doc = Record<string, unknown>;

const isObject = (x: unknown): x is Doc => typeof x === 'object' && x !== null && !Array.isArray(x);

function checkKeys(file: string, where: string, o: Doc, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new UserError(`${file}: ${where}: unknown field "${k}" (expected one of ${allowed.join(', ')})`);
}

function num(file: string, where: string, v: unknown, min: number, { integer = false, above = false } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || (above ? v <= min : v < min)) {
    throw new UserError(`${file}: ${where}: expected ${integer ? 'an integer' : 'a number'} ${above ? '>' : '>='} ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(file: string, where: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new UserError(`${file}: ${where}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function parseClasses(file: string, v: unknown): PriorityClass[] {
  if (!Array.isArray(v) || v.length === 0) throw new UserError(`${file}: priorities.classes: expected a non-empty list of classes, highest first`);
  const seen = new Set<string>();
  let reservedSum = 0;
  return v.map((c: unknown, i) => {
    const where = `priorities.classes[${i}]`;
    if (typeof c === 'string') c = { name: c };
    if (!isObject(c)) throw new UserError(`${file}: ${where}: expected a class name or {name, weight, reserved}`);
    checkKeys(file, where, c, ['name', 'weight', 'reserved']);
    const name = str(file, `${where}.name`, c.name);
    if (seen.has(name)) throw new UserError(`${file}: ${where}.name: class "${name}" is listed twice`);
    seen.add(name);
    const weight = c.weight === undefined ? 1 : num(file, `${where}.weight`, c.weight, 0, { above: true });
    const reserved = c.reserved === undefined ? 0 : num(file, `${where}.reserved`, c.reserved, 0);
    reservedSum += reserved;
    if (reservedSum >= 1) throw new UserError(`${file}: ${where}.reserved: the reserved shares add up to ${reservedSum}, expected under 1 (the lowest class needs some capacity)`);
    return { name, weight, reserved };
  });
}

function parsePriorities(file: string, v: unknown): PriorityConfig {
  if (v === undefined) v = {};
  if (!isObject(v)) throw new UserError(`${file}: priorities: expected a mapping`);
  checkKeys(file, 'priorities', v, ['classes', 'default', 'dequeue', 'aging_s', 'max_in_flight', 'preempt', 'queue_max', 'queue_timeout_s']);
  const classes = v.classes === undefined ? [...DEFAULT_CLASSES] : parseClasses(file, v.classes);
  const names = classes.map((c) => c.name);
  const defaultClass = v.default === undefined ? (names.includes('standard') ? 'standard' : names[names.length - 1]) : str(file, 'priorities.default', v.default);
  if (!names.includes(defaultClass)) throw new UserError(`${file}: priorities.default: "${defaultClass}" is not a class (expected one of ${names.join(', ')})`);
  const dequeue = v.dequeue ?? 'strict';
  if (dequeue !== 'strict' && dequeue !== 'weighted' && dequeue !== 'fifo') throw new UserError(`${file}: priorities.dequeue: expected strict, weighted or fifo, got ${JSON.stringify(dequeue)}`);
  const agingS = v.aging_s === undefined || v.aging_s === 0 ? Infinity : num(file, 'priorities.aging_s', v.aging_s, 0, { above: true });
  const maxInFlight = v.max_in_flight === undefined ? Infinity : num(file, 'priorities.max_in_flight', v.max_in_flight, 1, { integer: true });
  if (maxInFlight === Infinity && classes.some((c) => c.reserved > 0)) throw new UserError(`${file}: priorities.classes: "reserved" is a share of priorities.max_in_flight, which is not given`);
  if (v.preempt !== undefined && typeof v.preempt !== 'boolean') throw new UserError(`${file}: priorities.preempt: expected true or false, got ${JSON.stringify(v.preempt)}`);
  const queueMax = v.queue_max === undefined ? undefined : num(file, 'priorities.queue_max', v.queue_max, 1, { integer: true });
  const queueTimeoutS = v.queue_timeout_s === undefined ? undefined : num(file, 'priorities.queue_timeout_s', v.queue_timeout_s, 0, { above: true });
  return { classes, defaultClass, dequeue, agingS, maxInFlight, preempt: v.preempt !== false, queueMax, queueTimeoutS };
}

const LIMIT_FIELDS = { requests_per_s: 'requestsPerS', burst_requests: 'burstRequests', tokens_per_min: 'tokensPerMin', burst_tokens: 'burstTokens' } as const;

function parseTenant(file: string, name: string, v: unknown, classes: readonly string[], keysSeen: Map<string, string>): TenantConfig {
  const where = `tenants.${name}`;
  if (v === null || v === undefined) v = {};
  if (!isObject(v)) throw new UserError(`${file}: ${where}: expected a mapping`);
  checkKeys(file, where, v, ['keys', 'priority', 'max_priority', ...Object.keys(LIMIT_FIELDS)]);
  const rawKeys = v.keys === undefined ? [] : typeof v.keys === 'string' ? [v.keys] : v.keys;
  if (!Array.isArray(rawKeys)) throw new UserError(`${file}: ${where}.keys: expected a list of API keys`);
  const keys = rawKeys.map((k: unknown, i) => {
    const key = str(file, `${where}.keys[${i}]`, k);
    const other = keysSeen.get(key);
    if (other !== undefined) throw new UserError(`${file}: ${where}.keys[${i}]: the key is already tenant ${other}'s`);
    keysSeen.set(key, name);
    return key;
  });
  const cls = (field: 'priority' | 'max_priority'): string | undefined => {
    if (v[field] === undefined) return undefined;
    const c = str(file, `${where}.${field}`, v[field]);
    if (!classes.includes(c)) throw new UserError(`${file}: ${where}.${field}: "${c}" is not a class (expected one of ${classes.join(', ')})`);
    return c;
  };
  const priority = cls('priority');
  const maxPriority = cls('max_priority');
  if (priority !== undefined && maxPriority !== undefined && classes.indexOf(priority) < classes.indexOf(maxPriority)) {
    throw new UserError(`${file}: ${where}.priority: "${priority}" is above max_priority "${maxPriority}"`);
  }
  const limits: Record<string, number> = {};
  for (const [field, key] of Object.entries(LIMIT_FIELDS)) {
    if (v[field] !== undefined) limits[key] = num(file, `${where}.${field}`, v[field], 0, { above: true });
  }
  if (limits.burstRequests !== undefined && limits.requestsPerS === undefined) throw new UserError(`${file}: ${where}.burst_requests: needs requests_per_s`);
  if (limits.burstTokens !== undefined && limits.tokensPerMin === undefined) throw new UserError(`${file}: ${where}.burst_tokens: needs tokens_per_min`);
  return { name, keys, priority, maxPriority, limits };
}

/**
 * Validates a `--tenants` document (parsed YAML or JSON): `priorities` (classes highest first,
 * dequeue mode, aging, reserved capacity, pre-emption) and `tenants` (name → keys, class, limits).
 * Every mistake is one line naming the file and the field.
 */
export function parseAdmissionConfig(doc: unknown, file: string): AdmissionConfig {
  if (!isObject(doc)) throw new UserError(`${file}: expected a mapping with "priorities" and/or "tenants"`);
  checkKeys(file, 'top level', doc, ['priorities', 'tenants']);
  const priorities = parsePriorities(file, doc.priorities);
  const names = priorities.classes.map((c) => c.name);
  const rawTenants = doc.tenants ?? {};
  if (!isObject(rawTenants)) throw new UserError(`${file}: tenants: expected a mapping of tenant name to its keys, priority and limits`);
  const keysSeen = new Map<string, string>();
  const tenants = Object.entries(rawTenants).map(([name, t]) => parseTenant(file, name, t, names, keysSeen));
  return { priorities, tenants };
}
