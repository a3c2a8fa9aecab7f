import type { Engine } from '../engine/engine.js';
import { cachedContentHashes } from '../workload/block-hash.js';
import type { Request } from '../workload/request.js';

/**
 * The KV a decode mock receives from a prefill worker, placed in its engine's prefix cache so
 * the engine admits the request with every full prompt block already computed (the remaining
 * tokens, at least one as in vLLM, are computed by the first step: the decode side's "first
 * decode step"). Blocks go in as cached-and-free, so they count against the pool like any
 * cached block and are reused at admission.
 */

/** Leading blocks at most a prefix hit can cover (vLLM leaves at least one prompt token to compute). */
function coverable(engine: Engine, r: Request): number[] {
  const bs = engine.config.blockSize;
  const hashes = cachedContentHashes(r, bs) ?? [];
  return hashes.slice(0, Math.floor((r.inputTokens - 1) / bs));
}

/** Prompt tokens of `r` the engine already holds as leading cached blocks (no transfer needed). */
export function locallyCachedTokens(engine: Engine, r: Request): number {
  let n = 0;
  for (const h of coverable(engine, r)) {
    if (engine.pool.lookup(h) < 0) break;
    n++;
  }
  return n * engine.config.blockSize;
}

/**
 * Writes the received blocks into the pool; returns the tokens placed. A pool with too few free
 * blocks takes what fits (the rest is recomputed by the engine, as vLLM's recompute policy for
 * blocks it could not load).
 */
export function injectReceivedKv(engine: Engine, r: Request): number {
  const pool = engine.pool;
  if (!pool.cachingEnabled) return 0;
  const held: number[] = [];
  let placed = 0;
  for (const h of coverable(engine, r)) {
    const hit = pool.lookup(h);
    if (hit >= 0) {
      // Pinned while the rest is written, so allocating below cannot evict it.
      pool.touch(hit);
      held.push(hit);
      continue;
    }
    if (pool.free === 0) break;
    const b = pool.allocate();
    pool.register(b, h);
    held.push(b);
    placed++;
  }
  pool.release(held);
  return placed * engine.config.blockSize;
}
