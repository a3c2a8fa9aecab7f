import type { Request } from '../workload/request.js';
import { PROMPT_WORDS } from './prompt-words.js';
import { chainHash } from '../workload/block-hash.js';

/**
 * Prompt text for a trace request that carries none: `inputTokens` words separated by single
 * spaces, each one token to the fast tokenizer (mock worker, serve) and to the Llama 3 BPE (see
 * prompt-words.ts), so the prompt has the trace's length (a real server adds its BOS / chat
 * template tokens). Words come from the
 * request's prefix identity (token ids, or block ids plus the offset in the block), so requests
 * that share a prefix in the trace share the same leading text and hit a real prefix cache;
 * the rest is unique to the request.
 */
export function synthesizePrompt(req: Request): string {
  const n = req.inputTokens;
  const words = new Array<string>(n);
  const own = hashString(req.id);
  const p = req.prefix;
  for (let i = 0; i < n; i++) {
    let h: number;
    if (p?.kind === 'tokens' && i < p.ids.length) h = mix(p.ids[i], 0x2545f491);
    else if (p?.kind === 'blocks' && Math.floor(i / p.blockTokens) < p.hashIds.length) {
      const id = p.hashIds[Math.floor(i / p.blockTokens)];
      h = mix(mix(id % 4294967296, Math.floor(id / 4294967296)), i % p.blockTokens);
    } else h = mix(own, i + 0x51ed27);
    words[i] = word(h);
  }
  return words.join(' ');
}

/** The text a request is sent with: its own when the trace has it, else a synthetic one. */
export function promptText(req: Request): string {
  return req.text ?? synthesizePrompt(req);
}

function word(h: number): string {
  return PROMPT_WORDS[h % PROMPT_WORDS.length];
}

/** A well-mixed hash of two 32-bit values (the block hasher's chaining, reused). */
function mix(a: number, b: number): number {
  return chainHash(0, [a >>> 0, b >>> 0], 0, 2);
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
