import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import type { FleetWorker } from '../profiles/fleet.js';
import { createPolicy, parsePolicyOptions } from '../routing/registry.js';
import type { Policy } from '../routing/types.js';
import type { PdOptions } from '../sim/pd.js';
import { UserError } from '../util/errors.js';
import { parseNumberFlag } from './errors.js';

/** `simulate`'s disaggregation flags (SGLang's separate pool policies, llm-d's prefix-based decider). */
export interface PdFlags {
  prefillPolicy?: string;
  decodePolicy?: string;
  pdThreshold?: string;
}

export function addPdOptions(cmd: Command): Command {
  return cmd
    .option('--prefill-policy <name>', 'disaggregated fleets: policy of the prefill pool (default: --policy)')
    .option('--decode-policy <name>', 'disaggregated fleets: policy of the decode pool (default: --policy)')
    .option('--pd-threshold <tokens>', `disaggregated fleets: move a request only when its prompt tokens not cached on the chosen decode worker reach this, else the decode worker prefills it (default: ${DEFAULTS.pd.thresholdTokens})`);
}

function disaggregated(fleet: readonly FleetWorker[]): boolean {
  return fleet.some((w) => w.role === 'prefill' || w.role === 'decode');
}

/**
 * The decode pool's policy (replacing `policy` when `--decode-policy` is given) and the PD options,
 * or null for a colocated fleet (where the PD flags are refused rather than ignored).
 */
export function pdFromFlags(f: PdFlags & { policyOpt: readonly string[] }, fleet: readonly FleetWorker[], policy: () => Policy): { policy: Policy; pd: PdOptions } | null {
  if (!disaggregated(fleet)) {
    const given = (['prefillPolicy', 'decodePolicy', 'pdThreshold'] as const).find((k) => f[k] !== undefined);
    if (given) throw new UserError(`--${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: the fleet has no prefill or decode workers (give e.g. --fleet 'prefill=h100-sxm:2;decode=h100-sxm:6')`);
    return null;
  }
  const opts = parsePolicyOptions(f.policyOpt);
  if (!fleet.some((w) => w.role === 'prefill')) throw new UserError(`--fleet: decode workers need prefill workers to receive KV from (add a prefill= group, or use role both)`);
  if (!fleet.some((w) => w.role !== 'prefill')) throw new UserError(`--fleet: prefill workers need decode workers to hand the KV to (add a decode= group)`);
  const thresholdTokens = f.pdThreshold === undefined ? DEFAULTS.pd.thresholdTokens : parseNumberFlag('--pd-threshold', f.pdThreshold, { integer: true, min: 0 });
  const prefillPolicy = f.prefillPolicy === undefined ? policy() : createPolicy(f.prefillPolicy, opts);
  if (prefillPolicy.mode === 'pull') throw new UserError(`--prefill-policy ${prefillPolicy.name}: a pull-mode policy can route only the decode pool (give --prefill-policy with a push policy such as least-request)`);
  return {
    policy: f.decodePolicy === undefined ? policy() : createPolicy(f.decodePolicy, opts),
    pd: { prefillPolicy, thresholdTokens },
  };
}
