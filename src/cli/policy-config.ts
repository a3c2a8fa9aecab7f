import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../util/errors.js';
import { createPolicy, parsePolicyOptions, policyFromConfig } from '../routing/registry.js';
import type { Policy, PolicyEnv } from '../routing/types.js';

/** Reads a `--policy-config` file (YAML, or JSON by extension) into the document routing validates. */
export function readPolicyConfig(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--policy-config ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const json = /\.json$/i.test(path);
  try {
    return json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UserError(`${path}: not valid ${json ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The policy of a `--policy-config` file. */
export function loadPolicyConfig(path: string, env?: PolicyEnv): Policy {
  return policyFromConfig(readPolicyConfig(path), path, env);
}

/**
 * The policy the flags select: `--policy-config FILE` (a profile, or a named policy with its
 * options), else `--policy NAME` with `--policy-opt`. Options belong in the file when there is one.
 */
export function policyFromFlags(f: { policy: string; policyOpt: readonly string[]; policyConfig?: string }, env?: PolicyEnv): Policy {
  if (f.policyConfig === undefined) return createPolicy(f.policy, parsePolicyOptions(f.policyOpt), env);
  if (f.policyOpt.length > 0) throw new UserError(`--policy-opt: not with --policy-config ${f.policyConfig} (give the options in the file)`);
  return loadPolicyConfig(f.policyConfig, env);
}
