import type { RouteRequest } from '../../workload/request.js';

/**
 * The string a prefix tree indexes for a request. Text-based routers (SGLang's cache-aware,
 * Preble) key on the request text; when a trace carries no text but a prefix identity (token ids,
 * or Mooncake-style block ids) we encode that identity as a string instead, so one tree code path
 * serves both and equal leading tokens/blocks still mean equal leading characters:
 *  - token ids: 2 UTF-16 units per token (ids up to 2^32);
 *  - block ids: 3 UTF-16 units per block (the id modulo 2^48; ids are opaque, so any injective
 *    encoding works for the ids real traces use).
 * The key's length is therefore not a character count of text for identity keys; match rates
 * (matched / key length) stay exact because every symbol of one key has the same width.
 */
export interface PrefixKey {
  key: string;
  /** Prompt tokens one key unit stands for (text: unknown, taken as 1/4 token per char). */
  tokensPerUnit: number;
}

const EMPTY: PrefixKey = { key: '', tokensPerUnit: 1 };
const cache = new WeakMap<object, PrefixKey>();
const TWO16 = 65536;
const TWO32 = 4294967296;

export function prefixKey(req: RouteRequest): PrefixKey {
  // Nothing to key on: no cache entry either (a WeakMap entry per request of a day-long trace
  // is hundreds of MB of ephemeron table between major GCs).
  if ((req.text === undefined || req.text.length === 0) && req.prefix === undefined) return EMPTY;
  const hit = cache.get(req);
  if (hit) return hit;
  let k: PrefixKey;
  if (req.text !== undefined && req.text.length > 0) {
    // Text: characters; prompts average about 4 characters per BPE token.
    k = { key: req.text, tokensPerUnit: req.inputTokens > 0 ? req.inputTokens / req.text.length : 0.25 };
  } else if (req.prefix?.kind === 'tokens') {
    const ids = req.prefix.ids;
    const parts: string[] = [];
    const CHUNK = 4096;
    for (let s = 0; s < ids.length; s += CHUNK) {
      const codes: number[] = [];
      for (let i = s; i < Math.min(ids.length, s + CHUNK); i++) {
        const v = ids[i] >>> 0;
        codes.push(v >>> 16, v & 0xffff);
      }
      parts.push(String.fromCharCode(...codes));
    }
    k = { key: parts.join(''), tokensPerUnit: 0.5 };
  } else if (req.prefix?.kind === 'blocks') {
    const ids = req.prefix.hashIds;
    const parts: string[] = [];
    const CHUNK = 4096;
    for (let s = 0; s < ids.length; s += CHUNK) {
      const codes: number[] = [];
      for (let i = s; i < Math.min(ids.length, s + CHUNK); i++) {
        const v = ids[i];
        const lo = v % TWO32 >>> 0;
        const hi = Math.floor(v / TWO32) % TWO16;
        codes.push(hi, lo >>> 16, lo & 0xffff);
      }
      parts.push(String.fromCharCode(...codes));
    }
    k = { key: parts.join(''), tokensPerUnit: req.prefix.blockTokens / 3 };
  } else {
    k = EMPTY;
  }
  cache.set(req, k);
  return k;
}
