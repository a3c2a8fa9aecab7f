import { UserError } from '../util/errors.js';

/** Typed reads of a policy's resolved options (the registry has already applied defaults and types). */
export type OptionValues = Readonly<Record<string, number | boolean | string>>;

export function numberOpt(o: OptionValues, policy: string, name: string, min = -Infinity, max = Infinity): number {
  const v = o[name];
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new UserError(`--policy-opt ${name} (policy ${policy}): expected a number ${range}, got ${String(v)}`);
  }
  return v;
}

export function stringOpt<T extends string>(o: OptionValues, policy: string, name: string, allowed?: readonly T[]): T {
  const v = o[name];
  if (typeof v !== 'string' || (allowed && !allowed.includes(v as T))) {
    throw new UserError(`--policy-opt ${name} (policy ${policy}): expected ${allowed ? allowed.join(' or ') : 'a string'}, got "${String(v)}"`);
  }
  return v as T;
}

export function booleanOpt(o: OptionValues, policy: string, name: string): boolean {
  const v = o[name];
  if (typeof v !== 'boolean') throw new UserError(`--policy-opt ${name} (policy ${policy}): expected true or false, got ${String(v)}`);
  return v;
}
