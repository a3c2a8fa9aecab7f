/**
 * The mock worker's tokenizer: a deterministic stand-in for a BPE tokenizer, so prompt lengths and
 * prefix-cache hits behave like a real engine's without shipping a vocabulary. Pieces are words,
 * digits and punctuation runs with their leading space attached (as BPE vocabularies do), long
 * words cut into 4-character pieces (English BPE averages about 4 characters per token). Ids are
 * FNV-1a hashes of the pieces, so equal text prefixes give equal id prefixes.
 *
 * `router replay` synthesises prompts of three-letter lowercase words separated by single spaces
 * (see src/replay/prompt.ts): each such word is exactly one token here, so a synthetic prompt of
 * N words is N tokens.
 */
import type { CompletionCall } from './openai.js';
import { encodeChat, encodePrompt, type ChatRole } from '../workload/tokenizer.js';

const PIECE = / ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]+|\s+/gu;

function fnv1a(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function tokenize(text: string): Uint32Array {
  const out: number[] = [];
  PIECE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PIECE.exec(text)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    for (let i = start; i < end; i += 4) out.push(fnv1a(text, i, Math.min(end, i + 4)));
  }
  return Uint32Array.from(out);
}

/**
 * How the mock counts prompt tokens: `mock` (the fast stand-in above; chat contents joined by
 * newlines, no template) or `llama3` (the real Llama 3 BPE with vLLM's BOS and chat template:
 * exact for Llama 3 models, ~115 MiB and a few ms per thousand tokens).
 */
export type MockTokenizer = 'mock' | 'llama3';
export const MOCK_TOKENIZERS: readonly MockTokenizer[] = ['mock', 'llama3'];

const ROLES = new Set<string>(['system', 'user', 'assistant']);

export function promptIds(call: CompletionCall, kind: MockTokenizer): Uint32Array {
  if (typeof call.prompt !== 'string') return Uint32Array.from(call.prompt);
  if (kind === 'mock') return tokenize(call.prompt);
  if (call.messages) return encodeChat(call.messages.map((m) => ({ role: (ROLES.has(m.role) ? m.role : 'user') as ChatRole, content: m.content })));
  return encodePrompt(call.prompt);
}
