import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { parseAdmissionConfig, type AdmissionConfig } from '../routing/admission/config.js';
import { UserError } from '../util/errors.js';

export interface AdmissionFlags {
  /** --tenants FILE: tenants (keys, class, quotas) and priority classes, YAML or JSON (docs/tenants.md). */
  tenants?: string;
}

export function addAdmissionOptions(cmd: Command, what: 'serve' | 'simulate'): Command {
  const who = what === 'serve' ? 'tenants by API key' : 'tenants by the trace field "tenant"';
  return cmd.option('--tenants <file>', `YAML/JSON: priority classes (x-priority / trace "priority"; strict or weighted dequeue, reserved capacity, pre-emption) and ${who} with requests/s and tokens/min quotas (docs/tenants.md)`);
}

/** Reads and validates a `--tenants` file; undefined when the flag is absent. */
export function admissionFromFlags(f: AdmissionFlags): AdmissionConfig | undefined {
  const path = f.tenants;
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--tenants ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const json = /\.json$/i.test(path);
  let doc: unknown;
  try {
    doc = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UserError(`${path}: not valid ${json ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`);
  }
  return parseAdmissionConfig(doc, path);
}
