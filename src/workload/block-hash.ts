import type { PrefixIdentity } from './request.js';

/**
 * Chained block hashes: hash(block i) depends on every token before it, so two prompts share a
 * block hash exactly when they share the whole prefix up to the end of that block (as in vLLM's
 * prefix cache). Hashes are 53-bit integers (two 32-bit lanes), collision-free in practice for
 * the hundreds of millions of blocks a long simulation touches, and usable as Map keys.
 */
const LANE = 4294967296;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes `values[start..end)` chained onto `prev` (0 for the first block). */
export function chainHash(prev: number, values: ArrayLike<number>, start: number, end: number): number {
  let a = (prev % LANE) ^ 0x9e3779b9;
  let b = Math.floor(prev / LANE) ^ 0x7f4a7c15;
  for (let i = start; i < end; i++) {
    const v = values[i] >>> 0;
    a = Math.imul(a ^ v, 0x01000193);
    b = Math.imul(b ^ ((v + 0x632be5ab) >>> 0), 0x27d4eb2f);
    a = (a << 13) | (a >>> 19);
  }
  a = fmix(a ^ (end - start));
  b = fmix(b ^ a);
  return (b & 0x1fffff) * LANE + a;
}

/**
 * Hashes of the full `blockSize`-token blocks of a prompt. For `blocks` identities whose block
 * size differs from the engine's, an engine block takes the ids of the source blocks it overlaps
 * plus its offset, so equal source prefixes still give equal engine prefixes.
 */
export function promptBlockHashes(prefix: PrefixIdentity, inputTokens: number, blockSize: number, seed = 0): number[] {
  const full = Math.floor(inputTokens / blockSize);
  const out = new Array<number>(full);
  let prev = seed;
  if (prefix.kind === 'tokens') {
    const ids = prefix.ids;
    const n = Math.min(full, Math.floor(ids.length / blockSize));
    for (let i = 0; i < n; i++) {
      prev = chainHash(prev, ids, i * blockSize, (i + 1) * blockSize);
      out[i] = prev;
    }
    out.length = n;
    return out;
  }
  const src = prefix.blockTokens;
  const ids = prefix.hashIds;
  const key = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < full; i++) {
    const first = Math.floor((i * blockSize) / src);
    const last = Math.floor(((i + 1) * blockSize - 1) / src);
    if (last >= ids.length) break;
    key[0] = ids[first];
    key[1] = ids[last];
    key[2] = (i * blockSize) % src;
    prev = chainHash(prev, key, 0, 3);
    out[n++] = prev;
  }
  out.length = n;
  return out;
}

/**
 * The chain's starting value for a LoRA adapter (0 for the base model): KV computed under an
 * adapter differs from the base model's, so vLLM (and Dynamo's index) key blocks by adapter too.
 */
export function adapterSeed(adapter: string | undefined): number {
  if (adapter === undefined) return 0;
  const codes = new Uint32Array(adapter.length);
  for (let i = 0; i < adapter.length; i++) codes[i] = adapter.charCodeAt(i);
  return chainHash(0x5eed, codes, 0, codes.length);
}

const cache = new WeakMap<object, Map<number, number[]>>();
const contentCache = new WeakMap<object, Map<number, number[]>>();

function memo(store: WeakMap<object, Map<number, number[]>>, key: object, blockSize: number, compute: () => number[]): number[] {
  let perSize = store.get(key);
  if (!perSize) {
    perSize = new Map();
    store.set(key, perSize);
  }
  let hashes = perSize.get(blockSize);
  if (!hashes) {
    hashes = compute();
    perSize.set(blockSize, hashes);
  }
  return hashes;
}

/** Block hashes of a prompt, computed once per (request, block size). */
export function cachedPromptHashes(
  req: { prefix?: PrefixIdentity; inputTokens: number; adapter?: string },
  blockSize: number,
): number[] | undefined {
  const prefix = req.prefix;
  if (!prefix) return undefined;
  return memo(cache, req, blockSize, () => promptBlockHashes(prefix, req.inputTokens, blockSize, adapterSeed(req.adapter)));
}

/**
 * Block hashes of everything the engine will hold for a request: the prompt, then the answer when
 * its token ids are known (so generated blocks are shareable content, not private).
 */
export function cachedContentHashes(
  req: { prefix?: PrefixIdentity; inputTokens: number; outputTokenIds?: ArrayLike<number>; adapter?: string },
  blockSize: number,
): number[] | undefined {
  const prefix = req.prefix;
  const out = req.outputTokenIds;
  if (!out || prefix?.kind !== 'tokens' || prefix.ids.length !== req.inputTokens) return cachedPromptHashes(req, blockSize);
  return memo(contentCache, req, blockSize, () => {
    const all = new Uint32Array(prefix.ids.length + out.length);
    all.set(prefix.ids, 0);
    all.set(out, prefix.ids.length);
    return promptBlockHashes({ kind: 'tokens', ids: all }, all.length, blockSize, adapterSeed(req.adapter));
  });
}
