import { UserError } from '../util/errors.js';
import type { Policy, PolicyEnv, PolicyFactory } from './types.js';
import { resolveOptions } from './options.js';
import { createPolicyEnv } from './env.js';
import { parseProfile, profilePolicy } from './plugins/profile.js';
import { randomPolicy } from './policies/random.js';
import { roundRobinPolicy } from './policies/round-robin.js';
import { leastRequestPolicy } from './policies/least-request.js';
import { powerOfTwoPolicy } from './policies/power-of-two.js';
import { sloPolicyFactories } from './policies/slo.js';
import { leastTokensPolicy } from './policies/least-tokens.js';
import { leastKvCachePolicy } from './policies/least-kv-cache.js';
import { leastLatencyPolicy } from './policies/least-latency.js';
import { cacheAwarePolicy } from './policies/cache-aware.js';
import { prefixCachePolicy } from './policies/prefix-cache.js';
import { kvCostPolicy } from './policies/kv-cost.js';
import { precisePrefixPolicy } from './policies/precise-prefix.js';
import { weightedPolicy } from './policies/weighted.js';
import { consistentHashPolicy } from './policies/consistent-hash.js';
import { sessionAffinityPolicy } from './policies/session-affinity.js';
import { preblePolicy } from './policies/preble.js';
import { vtcPolicy } from './policies/vtc.js';
import { loraAffinityPolicy } from './policies/lora-affinity.js';

const factories = new Map<string, PolicyFactory>();

export function registerPolicy(f: PolicyFactory): void {
  factories.set(f.name, f);
}

/** Every shipped policy, in the order `router policies` lists them (simple → cache-aware → affinity → fairness). */
export const BUILTIN_POLICIES: readonly PolicyFactory[] = [
  randomPolicy,
  roundRobinPolicy,
  leastRequestPolicy,
  leastTokensPolicy,
  powerOfTwoPolicy,
  leastKvCachePolicy,
  leastLatencyPolicy,
  cacheAwarePolicy,
  prefixCachePolicy,
  kvCostPolicy,
  precisePrefixPolicy,
  weightedPolicy,
  preblePolicy,
  consistentHashPolicy,
  sessionAffinityPolicy,
  vtcPolicy,
  loraAffinityPolicy,
];
for (const f of BUILTIN_POLICIES) registerPolicy(f);
// AIBrix SLO family (slo, slo-least-load, slo-pack-load); the fallback is built through this registry.
for (const f of sloPolicyFactories((name) => createPolicy(name))) registerPolicy(f);

export function policyFactories(): PolicyFactory[] {
  return [...factories.values()];
}

/**
 * Builds a policy from its name and `key=value` options; unknown names and options are errors
 * that list what is accepted, values are checked against the option's declared type and range.
 * Defaults come from the policy's own option declaration. `env` (default: a fresh one with the
 * approximate prefix index) hands the policy its shared services.
 */
export function createPolicy(name: string, rawOptions: Readonly<Record<string, unknown>> = {}, env: PolicyEnv = createPolicyEnv()): Policy {
  const f = factories.get(name);
  if (!f) throw new UserError(`--policy ${name}: unknown policy (known: ${[...factories.keys()].join(', ')})`);
  const opts = resolveOptions(f.options, rawOptions, (k) => `--policy-opt ${k} (policy ${name})`, `policy ${name}`);
  return f.create(opts, env);
}

/**
 * A policy from a `--policy-config` document (already read from YAML/JSON): either a profile
 * (`{name, filters, scorers, picker}`) or a named policy with options (`{policy, options}`).
 * `where` (the file) prefixes every error.
 */
export function policyFromConfig(doc: unknown, where: string, env: PolicyEnv = createPolicyEnv()): Policy {
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'policy' in doc) {
    const d = doc as Record<string, unknown>;
    for (const k of Object.keys(d)) if (k !== 'policy' && k !== 'options') throw new UserError(`${where}: unknown field "${k}" next to "policy" (expected policy, options)`);
    if (typeof d.policy !== 'string') throw new UserError(`${where}: policy: expected a policy name`);
    const f = factories.get(d.policy);
    if (!f) throw new UserError(`${where}: policy: unknown policy "${d.policy}" (known: ${[...factories.keys()].join(', ')})`);
    const raw = d.options ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${where}: options: expected a map of option: value`);
    const opts = resolveOptions(f.options, raw as Record<string, unknown>, (k) => `${where}: options.${k}`, `policy ${f.name}`);
    return f.create(opts, env);
  }
  const spec = parseProfile(doc, where);
  return profilePolicy(spec, env, where);
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
