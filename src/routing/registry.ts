import { UserError } from '../util/errors.js';
import type { Policy, PolicyFactory, PolicyOption } from './types.js';
import { randomPolicy } from './policies/random.js';
import { roundRobinPolicy } from './policies/round-robin.js';
import { leastRequestPolicy } from './policies/least-request.js';
import { powerOfTwoPolicy } from './policies/power-of-two.js';
import { sloPolicyFactories } from './policies/slo.js';

const factories = new Map<string, PolicyFactory>();

export function registerPolicy(f: PolicyFactory): void {
  factories.set(f.name, f);
}

for (const f of [randomPolicy, roundRobinPolicy, leastRequestPolicy, powerOfTwoPolicy]) registerPolicy(f);
// AIBrix SLO family (slo, slo-least-load, slo-pack-load); the fallback is built through this registry.
for (const f of sloPolicyFactories((name) => createPolicy(name))) registerPolicy(f);

export function policyFactories(): PolicyFactory[] {
  return [...factories.values()];
}

function parseValue(opt: PolicyOption, raw: string, policy: string): number | boolean | string {
  const where = `--policy-opt ${opt.name} (policy ${policy})`;
  switch (opt.type) {
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UserError(`${where}: expected true or false, got "${raw}"`);
    case 'number':
    case 'integer': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || (opt.type === 'integer' && !Number.isInteger(v))) {
        throw new UserError(`${where}: expected ${opt.type === 'integer' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      return v;
    }
    case 'string':
      return raw;
  }
}

/**
 * Builds a policy from its name and `key=value` options; unknown names and options are errors
 * that list what is accepted. Defaults come from the policy's own option table.
 */
export function createPolicy(name: string, rawOptions: Record<string, string> = {}): Policy {
  const f = factories.get(name);
  if (!f) throw new UserError(`--policy ${name}: unknown policy (known: ${[...factories.keys()].join(', ')})`);
  const opts: Record<string, number | boolean | string> = {};
  for (const o of f.options) opts[o.name] = o.default;
  for (const [k, raw] of Object.entries(rawOptions)) {
    const o = f.options.find((x) => x.name === k);
    if (!o) {
      throw new UserError(`--policy-opt ${k}: policy ${name} has no option "${k}"${f.options.length ? ` (options: ${f.options.map((x) => x.name).join(', ')})` : ' (it takes no options)'}`);
    }
    opts[k] = parseValue(o, raw, name);
  }
  return f.create(opts);
}

/** Parses repeated `--policy-opt k=v[,k=v]` flags. */
export function parsePolicyOptions(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    for (const part of splitTopLevel(flag)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UserError(`--policy-opt "${part}": expected key=value`);
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  }
  return out;
}

/** Splits on commas that start a new `key=`, so values like `prefix:3,queue:2` survive. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (const piece of s.split(',')) {
    if (cur !== '' && !/^\s*[A-Za-z_][\w.-]*\s*=/.test(piece)) cur += `,${piece}`;
    else {
      if (cur !== '') parts.push(cur);
      cur = piece;
    }
  }
  if (cur !== '') parts.push(cur);
  return parts;
}
