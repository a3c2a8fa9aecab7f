import { UserError } from '../util/errors.js';
import type { PolicyOption } from './types.js';

/**
 * Typed option schema shared by policies and plugins: each declares its options once (type,
 * default, range, doc) as a `PolicyOption` list; parsing, validation, `router policies` (text and
 * JSON) and the generated tables in docs/policies.md all read that declaration. The default in
 * the declaration is the only one: `create` receives resolved values and never re-defaults.
 */
export type OptionSpec = PolicyOption;
export type OptionValue = number | boolean | string;

/** Typed reads of resolved options (the registry has already applied defaults, types and ranges). */
export type OptionValues = Readonly<Record<string, OptionValue>>;

/** "an integer ≥ 1", "a number in [0, 1]", "one of max-score, weighted-random", "true or false". */
export function describeOption(o: OptionSpec): string {
  switch (o.type) {
    case 'boolean':
      return 'true or false';
    case 'string':
      return o.values ? `one of ${o.values.join(', ')}` : 'a string';
    case 'number':
    case 'integer': {
      const what = o.type === 'integer' ? 'an integer' : 'a number';
      const lo = o.min ?? -Infinity;
      const hi = o.max ?? Infinity;
      if (lo === -Infinity && hi === Infinity) return what;
      if (hi === Infinity) return `${what} ≥ ${lo}`;
      if (lo === -Infinity) return `${what} ≤ ${hi}`;
      return `${what} in [${lo}, ${hi}]`;
    }
  }
}

function shown(raw: unknown): string {
  return typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw) ?? String(raw);
}

/**
 * One option value from the command line (a string) or a profile file (a JSON/YAML scalar),
 * checked against its declaration. `where` names it in the error ("--policy-opt k (policy p)",
 * "file: scorers[0].options.k").
 */
export function parseOption(o: OptionSpec, raw: unknown, where: string): OptionValue {
  const fail = (): never => {
    throw new UserError(`${where}: expected ${describeOption(o)}, got ${shown(raw)}`);
  };
  switch (o.type) {
    case 'boolean':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      return fail();
    case 'string':
      if (typeof raw !== 'string' || (o.values && !o.values.includes(raw))) return fail();
      return raw;
    case 'number':
    case 'integer': {
      let v: number;
      if (typeof raw === 'number') v = raw;
      else if (typeof raw === 'string' && raw.trim() !== '') v = Number(raw);
      else return fail();
      if (!Number.isFinite(v) || (o.type === 'integer' && !Number.isInteger(v))) return fail();
      if (v < (o.min ?? -Infinity) || v > (o.max ?? Infinity)) return fail();
      return v;
    }
  }
}

/**
 * Resolves a full option set: declared defaults, overridden by `raw`; an unknown key is an error
 * that lists the known ones. `where(key)` names an option in errors; `owner` names what has none.
 */
export function resolveOptions(specs: readonly OptionSpec[], raw: Readonly<Record<string, unknown>>, where: (key: string) => string, owner: string): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const o of specs) out[o.name] = o.default;
  for (const [k, v] of Object.entries(raw)) {
    const o = specs.find((x) => x.name === k);
    if (!o) {
      throw new UserError(`${where(k)}: ${owner} has no option "${k}"${specs.length ? ` (options: ${specs.map((x) => x.name).join(', ')})` : ' (it takes no options)'}`);
    }
    out[k] = parseOption(o, v, where(k));
  }
  return out;
}

/** A resolved number option (validated already). */
export function num(o: OptionValues, name: string): number {
  const v = o[name];
  if (typeof v !== 'number') throw new Error(`option ${name} is not a resolved number`);
  return v;
}

/** A resolved string option; `values` (its declared values) narrows the type. */
export function str<T extends string>(o: OptionValues, name: string, values?: readonly T[]): T {
  const v = o[name];
  if (typeof v !== 'string' || (values && !(values as readonly string[]).includes(v))) throw new Error(`option ${name} is not a resolved string`);
  return v as T;
}
