import type { Policy } from '../../routing/types.js';
import { UserError } from '../../util/errors.js';
import { parseWorkersFlag, type WorkerSpec } from '../worker-spec.js';
import type { PdOptions } from './coordinator.js';
import { PD_PROTOCOLS, type PdProtocol } from './wire.js';

/** The PD flags of `router serve` as given (undefined = not given). */
export interface PdFlags {
  prefill?: string[];
  decode?: string[];
  pdProtocol?: string;
  prefillPolicy?: string;
  decodePolicy?: string;
  pdThreshold?: string;
}

/**
 * `--prefill` / `--decode` values: each a `URL[;label=value...]` list (comma-separated), and, as
 * sgl-router's `--prefill URL [BOOTSTRAP_PORT]`, a bare port right after a prefill URL is its
 * bootstrap port.
 */
export function parsePoolFlag(flag: '--prefill' | '--decode', values: readonly string[]): WorkerSpec[] {
  const out: WorkerSpec[] = [];
  for (const raw of values) {
    const v = raw.trim();
    if (/^\d+$/.test(v)) {
      const last = out.at(-1);
      if (flag !== '--prefill' || !last) throw new UserError(`${flag} ${v}: a bare number is a bootstrap port and must follow a --prefill URL`);
      if (last.bootstrapPort !== undefined) throw new UserError(`${flag} ${v}: ${last.url} already has bootstrap port ${last.bootstrapPort}`);
      const port = Number(v);
      if (port < 1 || port > 65535) throw new UserError(`${flag} ${v}: expected a bootstrap port from 1 to 65535`);
      last.bootstrapPort = port;
      continue;
    }
    for (const spec of parseWorkersFlag(v, flag)) {
      const role = flag === '--prefill' ? 'prefill' : 'decode';
      if (spec.role !== undefined && spec.role !== role) throw new UserError(`${flag} "${v}": role=${spec.role} contradicts ${flag}`);
      out.push({ ...spec, role });
    }
  }
  if (out.length === 0) throw new UserError(`${flag}: give at least one worker URL`);
  return out;
}

export interface PoolSplit {
  /** The workers serve's Router routes to: decode and colocated (`both`) ones. */
  decode: WorkerSpec[];
  pd?: PdOptions;
}

/**
 * Splits the configured workers into the two pools and checks the PD flags. Disaggregation is
 * on when some worker is a prefill worker (`--prefill` or `role=prefill`); it then needs a
 * decode pool. PD-only flags without a prefill worker are a mistake, not something to ignore.
 */
export function splitPools(
  workers: readonly WorkerSpec[],
  f: PdFlags,
  /** A fresh policy by name (undefined: the one --policy/--policy-config selects). */
  policy: (name: string | undefined) => Policy,
  blockSize: number,
): PoolSplit & { decodePolicy?: Policy } {
  const prefill = [...workers.filter((w) => w.role === 'prefill'), ...(f.prefill ? parsePoolFlag('--prefill', f.prefill) : [])];
  const decode = [...workers.filter((w) => w.role !== 'prefill'), ...(f.decode ? parsePoolFlag('--decode', f.decode) : [])];
  // Caught here, at startup, so a repeated worker is a flag mistake (one line, exit 2), not the admin API's 409.
  const names = new Set<string>();
  const colocatedUrls = new Set<string>();
  for (const w of [...prefill, ...decode]) {
    if (w.name !== undefined) {
      if (names.has(w.name)) throw new UserError(`worker name "${w.name}": listed twice; each worker needs its own name`);
      names.add(w.name);
    }
    if (prefill.length === 0) {
      if (colocatedUrls.has(w.url)) throw new UserError(`worker ${w.url}: listed twice; give each worker once`);
      colocatedUrls.add(w.url);
    }
  }
  if (prefill.length === 0) {
    const stray = f.decode ? '--decode' : workers.some((w) => w.role === 'decode') ? 'role=decode' : f.pdProtocol !== undefined ? '--pd-protocol' : f.prefillPolicy !== undefined ? '--prefill-policy' : f.decodePolicy !== undefined ? '--decode-policy' : f.pdThreshold !== undefined ? '--pd-threshold' : undefined;
    if (stray) throw new UserError(`${stray}: disaggregated serving needs prefill workers too (--prefill URL or role=prefill in --workers/--config)`);
    return { decode };
  }
  if (decode.length === 0) throw new UserError('--prefill: disaggregated serving needs decode workers too (--decode URL, or role=decode/both in --workers/--config)');
  const urls = new Map<string, string>();
  for (const w of [...prefill, ...decode]) {
    const seen = urls.get(w.url);
    if (seen) throw new UserError(`${w.url}: listed twice (as ${seen} and ${w.role ?? 'both'}); a worker has one role`);
    urls.set(w.url, w.role ?? 'both');
  }
  const protocol = (f.pdProtocol ?? 'vllm') as PdProtocol;
  if (!PD_PROTOCOLS.includes(protocol)) throw new UserError(`--pd-protocol: expected ${PD_PROTOCOLS.join(' or ')}, got "${f.pdProtocol}"`);
  let thresholdTokens = 0;
  if (f.pdThreshold !== undefined) {
    thresholdTokens = Number(f.pdThreshold);
    if (f.pdThreshold.trim() === '' || !Number.isInteger(thresholdTokens) || thresholdTokens < 0) throw new UserError(`--pd-threshold: expected an integer >= 0 (uncached prompt tokens), got "${f.pdThreshold}"`);
    if (protocol === 'sglang' && thresholdTokens > 0) throw new UserError('--pd-threshold: needs --pd-protocol vllm (an SGLang decode server cannot prefill a request locally)');
  }
  if (protocol === 'vllm') {
    const withPort = prefill.find((w) => w.bootstrapPort !== undefined);
    if (withPort) throw new UserError(`--prefill ${withPort.url}: a bootstrap port is an SGLang setting (give --pd-protocol sglang)`);
  }
  const decodePolicy = f.decodePolicy !== undefined ? policy(f.decodePolicy) : undefined;
  return { decode, decodePolicy, pd: { protocol, prefill, prefillPolicy: policy(f.prefillPolicy), thresholdTokens, blockSize } };
}
