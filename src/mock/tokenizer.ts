import type { CompletionCall } from './openai.js';
import { encodeChat, encodePrompt, type ChatRole } from '../workload/tokenizer.js';
import { fastTokenIds, TOKENIZERS, type TokenizerName } from '../serve/tokenize.js';

/**
 * How the mock counts prompt tokens, with the same two tokenizers `serve` offers
 * (src/serve/tokenize.ts), so a mock's count equals what a router in front of it estimates:
 * `fast` (default; chat contents joined by spaces as serve joins them, no template) or `llama3` (the Llama 3 BPE
 * with vLLM's BOS and chat template: exact for Llama 3 models, ~115 MiB and milliseconds per long
 * prompt of CPU that the simulated GPU does not account for). `router replay`'s synthetic words
 * are one token to both.
 */
export type MockTokenizer = TokenizerName;
export const MOCK_TOKENIZERS: readonly MockTokenizer[] = TOKENIZERS;

const ROLES = new Set<string>(['system', 'user', 'assistant']);

export function promptIds(call: CompletionCall, kind: MockTokenizer): Uint32Array {
  if (typeof call.prompt !== 'string') return Uint32Array.from(call.prompt);
  if (kind === 'fast') return fastTokenIds(call.prompt);
  if (call.messages) return encodeChat(call.messages.map((m) => ({ role: (ROLES.has(m.role) ? m.role : 'user') as ChatRole, content: m.content })));
  return encodePrompt(call.prompt);
}
