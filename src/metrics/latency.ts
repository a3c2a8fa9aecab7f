import type { Slo } from '../workload/request.js';
import { meetsSlo } from './slo.js';

/**
 * One finished request's latencies in ms, as docs/architecture.md (Metrics) defines them: TTFT and
 * E2E from its arrival, TPOT = (last − first token) / (output tokens − 1), NaN below two tokens.
 */
export interface RequestLatency {
  ttftMs: number;
  tpotMs: number;
  e2eMs: number;
}

/** Times in seconds on the driver's clock (virtual in the simulator, wall clock in serve and replay). */
export function requestLatency(arrivalS: number, firstTokenS: number, endS: number, outputTokens: number): RequestLatency {
  return {
    ttftMs: (firstTokenS - arrivalS) * 1e3,
    tpotMs: outputTokens > 1 ? ((endS - firstTokenS) * 1e3) / (outputTokens - 1) : NaN,
    e2eMs: (endS - arrivalS) * 1e3,
  };
}

/** Whether a finished request met `slo`: a one-token request's TPOT counts as 0, TPAT is E2E per prompt and output token. */
export function latencyMeetsSlo(slo: Slo, lat: RequestLatency, inputTokens: number, outputTokens: number): boolean {
  return meetsSlo(slo, {
    ttftMs: lat.ttftMs,
    tpotMs: Number.isNaN(lat.tpotMs) ? 0 : lat.tpotMs,
    e2eMs: lat.e2eMs,
    tpatMs: lat.e2eMs / (inputTokens + outputTokens),
  });
}
