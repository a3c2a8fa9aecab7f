import { DEFAULTS } from '../defaults.js';

/**
 * How often a sweep that enforces timeouts runs (instead of a timer per request): a tenth of the
 * shortest timeout it enforces, clamped so it neither spins nor lets a deadline slip by more
 * than the bound.
 */
export function sweepIntervalMs(shortestTimeoutMs: number): number {
  const { min, max } = DEFAULTS.serve.timeoutSweepMs;
  return Math.min(max, Math.max(min, shortestTimeoutMs / 10));
}
