import type { Rng } from '../util/rng.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  /** Relative jitter: the delay is scaled by a uniform factor in [1 - j, 1 + j]. */
  jitter: number;
}

/** Delay before retry number `retry` (0 = the first retry): min(initial·mult^n, max)·(1 ± U(j)). */
export function backoffMs(o: BackoffOptions, retry: number, rng: Rng): number {
  const base = Math.min(o.initialMs * o.multiplier ** retry, o.maxMs);
  return Math.max(0, base * (1 + o.jitter * (2 * rng.next() - 1)));
}

/** Upstream statuses worth another worker (sgl-router retries the same set). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}
