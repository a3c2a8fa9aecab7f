import { basename } from 'node:path';
import type { Request } from './request.js';
import { EventHeap } from '../util/heap.js';
import { UserError } from '../util/errors.js';

export interface MixEntry {
  path: string;
  rateRps: number;
  format?: string;
  /** `KEY=VALUE` parts: given to the source's requests that carry none of their own. */
  attrs?: MixAttrs;
}

/** Request attributes a mix entry may stamp on its requests. */
export interface MixAttrs {
  model?: string;
  adapter?: string;
  tenant?: string;
  priority?: string;
}

const ATTR_KEYS: Record<string, keyof MixAttrs> = { model: 'model', lora: 'adapter', adapter: 'adapter', tenant: 'tenant', priority: 'priority' };

/** Splits trailing `key=value` parts (model=, lora=, tenant=, priority=) off a mix entry. */
function takeAttrs(parts: string[], entry: string): MixAttrs | undefined {
  let attrs: MixAttrs | undefined;
  while (parts.length > 0 && /^[a-z]+=/.test(parts[parts.length - 1])) {
    const part = parts.pop() as string;
    const eq = part.indexOf('=');
    const key = ATTR_KEYS[part.slice(0, eq)];
    const value = part.slice(eq + 1);
    if (!key) throw new UserError(`--mix: "${entry}": unknown attribute "${part.slice(0, eq)}" (known: ${Object.keys(ATTR_KEYS).join(', ')})`);
    if (value === '') throw new UserError(`--mix: "${entry}": ${part.slice(0, eq)}= needs a value`);
    (attrs ??= {})[key] = value;
  }
  return attrs;
}

/**
 * Parses `--mix FILE:RATE[:FORMAT][:model=M][:lora=A][:tenant=T][:priority=P],...` (rates in
 * requests per second, one arrival process each).
 */
export function parseMix(spec: string): MixEntry[] {
  const entries = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) throw new UserError(`--mix: expected FILE:RATE[,FILE:RATE...], got "${spec}"`);
  return entries.map((entry) => {
    const parts = entry.split(':');
    const attrs = takeAttrs(parts, entry);
    const isRate = (s: string | undefined): boolean => s !== undefined && s.trim() !== '' && Number.isFinite(Number(s));
    let format: string | undefined;
    if (parts.length >= 3 && !isRate(parts[parts.length - 1]) && isRate(parts[parts.length - 2])) format = parts.pop();
    const rate = parts.pop();
    const path = parts.join(':');
    if (path === '' || !isRate(rate) || Number(rate) <= 0) {
      throw new UserError(`--mix: "${entry}": expected FILE:RATE[:FORMAT] with RATE > 0 requests per second`);
    }
    return { path, rateRps: Number(rate), format, ...(attrs ? { attrs } : {}) };
  });
}

/** Short unique labels for the sources of a mix (file names without extension). */
export function sourceLabels(paths: string[]): string[] {
  const seen = new Map<string, number>();
  return paths.map((p) => {
    const base = basename(p).replace(/\.[^.]+$/, '') || p;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n + 1}`;
  });
}

interface Head {
  time: number;
  seq: number;
  source: number;
  req: Request;
}

/** Merges sorted streams into one sorted stream; ties go to the earlier source. */
export async function* mergeByArrival(sources: AsyncIterable<Request>[]): AsyncGenerator<Request> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const heap = new EventHeap<Head>();
  const pull = async (i: number): Promise<void> => {
    const n = await its[i].next();
    if (!n.done) heap.push({ time: n.value.arrivalS, seq: i, source: i, req: n.value });
  };
  try {
    for (let i = 0; i < its.length; i++) await pull(i);
    while (heap.size > 0) {
      const h = heap.pop() as Head;
      yield h.req;
      await pull(h.source);
    }
  } finally {
    await Promise.all(its.map(async (it) => { await it.return?.(); }));
  }
}
