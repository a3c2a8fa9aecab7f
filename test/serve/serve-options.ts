import type { ServeOptions } from '../../src/serve/server.js';
import type { Policy } from '../../src/routing/types.js';

/** In-process ServeApp options for tests: small timeouts, workers w0, w1, ... on the given ports. */
export function serveTestOptions(ports: number[], policy: Policy, extra: Partial<ServeOptions> = {}): ServeOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    workers: ports.map((p, i) => ({ url: `http://127.0.0.1:${p}`, name: `w${i}`, gpu: 'l20' })),
    policy,
    seed: 1,
    maxAttempts: 3,
    backoff: { initialMs: 1, maxMs: 10, multiplier: 1.5, jitter: 0.2 },
    breaker: { failureThreshold: 5, successThreshold: 1, openS: 1 },
    health: { path: '/health', intervalMs: 0, timeoutMs: 1000, failureThreshold: 1, successThreshold: 1 },
    scrapeIntervalMs: 50,
    requestTimeoutMs: 10_000,
    idleTimeoutMs: 5_000,
    connectTimeoutMs: 1_000,
    maxBodyBytes: 1 << 20,
    drainTimeoutMs: 1_000,
    connections: 4,
    defaultMaxTokens: 16,
    tokenizer: 'fast',
    rollingWindowS: 60,
    retryAfterS: 1,
    ...extra,
  };
}
