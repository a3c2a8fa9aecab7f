import type { Slo } from '../workload/request.js';
import { UserError } from '../util/errors.js';

/** The `--slo` flag: thresholds every request is held to (a request's own SLO overrides them). */
export interface SloSpec extends Slo {
  /** Percentile the SLO routers plan for (AIBrix `slos.percentile`). */
  percentile: number;
}

const KEYS: Record<string, keyof SloSpec> = {
  ttft_ms: 'ttftMs',
  tpot_ms: 'tpotMs',
  e2e_ms: 'e2eMs',
  tpat_ms: 'tpatMs',
  percentile: 'percentile',
};

export function parseSlo(spec: string): SloSpec {
  const out: SloSpec = { percentile: 99 };
  let any = false;
  for (const part of spec.split(',')) {
    const [k, v, extra] = part.split('=');
    const key = KEYS[k?.trim() ?? ''];
    if (!key || v === undefined || extra !== undefined) {
      throw new UserError(`--slo "${part}": expected key=value with key one of ${Object.keys(KEYS).join(', ')}`);
    }
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || (key === 'percentile' && n > 100)) {
      throw new UserError(`--slo ${k}: expected a positive number${key === 'percentile' ? ' up to 100' : ''}, got "${v}"`);
    }
    out[key] = n;
    if (key !== 'percentile') any = true;
  }
  if (!any) throw new UserError('--slo: give at least one of ttft_ms, tpot_ms, e2e_ms, tpat_ms');
  return out;
}

/** The SLO a request is held to: its own targets over the global ones; undefined when none. */
export function effectiveSlo(global: Slo | undefined, own: Slo | undefined): Slo | undefined {
  if (!global && !own) return undefined;
  return {
    ttftMs: own?.ttftMs ?? global?.ttftMs,
    tpotMs: own?.tpotMs ?? global?.tpotMs,
    e2eMs: own?.e2eMs ?? global?.e2eMs,
    tpatMs: own?.tpatMs ?? global?.tpatMs,
  };
}

export function meetsSlo(slo: Slo, m: { ttftMs: number; tpotMs: number; e2eMs: number; tpatMs: number }): boolean {
  if (slo.ttftMs !== undefined && !(m.ttftMs <= slo.ttftMs)) return false;
  if (slo.tpotMs !== undefined && m.tpotMs > slo.tpotMs) return false;
  if (slo.e2eMs !== undefined && !(m.e2eMs <= slo.e2eMs)) return false;
  if (slo.tpatMs !== undefined && !(m.tpatMs <= slo.tpatMs)) return false;
  return true;
}

/** A stable name for a set of targets, e.g. `tpot_ms=50,ttft_ms=2000`: requests held to the same targets form one SLO class. */
export function sloClassName(slo: Slo): string {
  const parts: string[] = [];
  for (const [flag, key] of Object.entries(KEYS)) {
    if (key === 'percentile') continue;
    const v = slo[key];
    if (v !== undefined) parts.push(`${flag}=${v}`);
  }
  return parts.join(',');
}
