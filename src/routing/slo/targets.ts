import { UserError } from '../../util/errors.js';
import type { Slo } from '../../workload/request.js';
import type { AibrixSlos, ProfileTable, Signature } from './profile.js';

/** SLO targets in seconds (AIBrix's unit). */
export interface SloTargets {
  tpot?: number;
  ttft?: number;
  tpat?: number;
  e2e?: number;
}

/**
 * The targets a request is ranked against: its own SLO (trace `slo` field or `x-slo-*` headers,
 * in ms) over the profile's `slos` (AIBrix only has the latter). AIBrix treats 0 as "not set".
 */
export function targetsFor(own: Slo | undefined, profile: AibrixSlos | undefined): SloTargets {
  const pick = (ms: number | undefined, s: number | undefined): number | undefined => (ms !== undefined ? ms / 1e3 : s !== undefined && s > 0 ? s : undefined);
  return {
    tpot: pick(own?.tpotMs, profile?.tpot),
    ttft: pick(own?.ttftMs, profile?.ttft),
    tpat: pick(own?.tpatMs, profile?.tpat),
    e2e: pick(own?.e2eMs, profile?.e2e),
  };
}

/**
 * AIBrix `SLOQueue` rank of a request on one deployment: `waited + expected − target`, with the
 * target chosen by priority TPOT > TTFT > TPAT > E2E. Positive means a violation is predicted;
 * the lowest rank is the most relaxed deployment. Undefined when no SLO applies (or a TTFT SLO
 * meets a profile without a TTFT table and nothing else is set).
 */
export function sloRank(t: ProfileTable, s: Signature, targets: SloTargets, predictedOut: number, inputTokens: number, waitedS: number): number | undefined {
  return sloRankOf({ e2e: t.e2e(s), ttft: t.ttft(s) }, targets, predictedOut, inputTokens, waitedS);
}

/** `sloRank` on the expected latencies of a request's cell (see `requestCell`). */
export function sloRankOf(cell: { e2e?: number; ttft?: number }, targets: SloTargets, predictedOut: number, inputTokens: number, waitedS: number): number | undefined {
  const { e2e, ttft } = cell;
  if (targets.tpot !== undefined && e2e !== undefined) return waitedS + e2e - (targets.tpot * predictedOut + (targets.ttft ?? 0));
  if (targets.ttft !== undefined && ttft !== undefined) return waitedS + ttft - targets.ttft;
  if (targets.tpat !== undefined && e2e !== undefined) return waitedS + e2e - targets.tpat * (inputTokens + predictedOut);
  if (targets.e2e !== undefined && e2e !== undefined) return waitedS + e2e - targets.e2e;
  return undefined;
}

/** Per-request SLO headers `serve` accepts (milliseconds); they override the profile's SLO. */
export const SLO_HEADERS: Record<string, keyof Slo> = {
  'x-slo-ttft-ms': 'ttftMs',
  'x-slo-tpot-ms': 'tpotMs',
  'x-slo-e2e-ms': 'e2eMs',
  'x-slo-tpat-ms': 'tpatMs',
};

/**
 * Reads `x-slo-ttft-ms`, `x-slo-tpot-ms`, `x-slo-e2e-ms`, `x-slo-tpat-ms` (names case-insensitive,
 * as node:http lower-cases them); undefined when none is present. A bad value is a UserError
 * naming the header (serve answers 400).
 */
export function parseSloHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Slo | undefined {
  let out: Slo | undefined;
  for (const [name, raw] of Object.entries(headers)) {
    const key = SLO_HEADERS[name.toLowerCase()];
    if (!key || raw === undefined) continue;
    const v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UserError(`header ${name.toLowerCase()}: expected a positive number of milliseconds, got "${v}"`);
    out ??= {};
    out[key] = n;
  }
  return out;
}
