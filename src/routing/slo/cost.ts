import { consumption } from './load.js';
import type { ProfileTable } from './profile.js';

/** What the tables predict for one request on one worker. */
export interface RequestCell {
  /** Mean E2E seconds (undefined: no E2E table). */
  e2e?: number;
  /** Mean TTFT seconds, when the profile has a TTFT table. */
  ttft?: number;
  /** Little's-law consumption: undefined without a load model, Infinity when the SLO was met at no rate. */
  c?: number;
}

/**
 * A request's cell on a worker: the computed-tokens cell (prefill of the part the worker's cache
 * lacks, plus decoding), and, when the tables carry a cached-context companion, the cell of the
 * whole prompt held as cached context (KV and attention over the long prefix at every decode
 * step). The request costs the heavier of the two and is expected to take the longer: a
 * text-to-SQL prompt whose 4K-token schema is cached computes 50 tokens, but every decode step
 * still reads 4K tokens of KV, which on a small GPU is what fills it.
 */
export function requestCell(t: ProfileTable, predictedOut: number, computedTokens: number, promptTokens: number): RequestCell {
  const s = t.signature(predictedOut, computedTokens);
  const out: RequestCell = { e2e: t.e2e(s), ttft: t.ttft(s), c: consumption(t, s) };
  const ctx = t.context;
  if (!ctx || promptTokens <= computedTokens) return out;
  const sc = ctx.signature(predictedOut, promptTokens);
  const c = consumption(ctx, sc);
  if (out.c !== undefined && c !== undefined) out.c = Math.max(out.c, c);
  const e2e = ctx.e2e(sc);
  if (out.e2e !== undefined && e2e !== undefined) out.e2e = Math.max(out.e2e, e2e);
  return out;
}
