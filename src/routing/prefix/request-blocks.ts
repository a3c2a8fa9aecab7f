import { cachedPromptHashes, chainHash } from '../../workload/block-hash.js';
import type { RouteRequest } from '../../workload/request.js';

/** Characters per token when a router hashes raw text into token-sized blocks (llm-d uses 4). */
export const CHARS_PER_TOKEN = 4;

const textCache = new WeakMap<object, Map<number, number[]>>();

/**
 * Chained hashes of a request's full prompt blocks of `blockTokens` tokens: from its prefix
 * identity when the trace has one (exact, as the engine hashes it), else from its text cut into
 * `blockTokens × 4`-character chunks (llm-d's approximate prefix index does the same). The
 * trailing partial block is never hashed. Computed once per request and block size.
 */
export function requestBlockHashes(req: RouteRequest, blockTokens: number): readonly number[] {
  const fromIdentity = cachedPromptHashes(req, blockTokens);
  if (fromIdentity) return fromIdentity;
  const text = req.text;
  if (text === undefined || text.length === 0) return [];
  let perSize = textCache.get(req);
  if (!perSize) {
    perSize = new Map();
    textCache.set(req, perSize);
  }
  let hashes = perSize.get(blockTokens);
  if (!hashes) {
    const chunk = blockTokens * CHARS_PER_TOKEN;
    const full = Math.floor(text.length / chunk);
    const codes = new Uint16Array(full * chunk);
    for (let i = 0; i < codes.length; i++) codes[i] = text.charCodeAt(i);
    hashes = new Array<number>(full);
    let prev = 0;
    for (let b = 0; b < full; b++) {
      prev = chainHash(prev, codes, b * chunk, (b + 1) * chunk);
      hashes[b] = prev;
    }
    perSize.set(blockTokens, hashes);
  }
  return hashes;
}
