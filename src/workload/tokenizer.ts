import { createRequire } from 'node:module';
import type { Llama3Tokenizer } from 'llama3-tokenizer-js';

/**
 * Text → token ids with the Llama 3 / 3.1 BPE (llama3-tokenizer-js: the 128k-vocabulary tiktoken
 * BPE with Llama 3's pre-tokenizer regex, pure JS, data bundled, so it works offline). It is
 * exact for the default model (llama-3.1-8b); for other models token counts are an
 * approximation (see traces/README.md). Ids are what prefix identity is built from, so two
 * prompts that share text share token ids and the simulated prefix cache hits exactly.
 */
/** Llama 3 special tokens (fixed by the vocabulary). */
const BOS = 128000;
const START_HEADER = 128006;
const END_HEADER = 128007;
const EOT = 128009;

/**
 * Loaded on first use: its vocabulary costs ~115 MiB of memory, which traces carrying only token
 * counts or block ids (Mooncake, Azure, native JSONL) never need.
 */
let loaded: Llama3Tokenizer | undefined;
function tokenizer(): Llama3Tokenizer {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    const mod = require('llama3-tokenizer-js/bundle/commonjs-llama3-tokenizer-with-baked-data.cjs') as { llama3Tokenizer: Llama3Tokenizer };
    loaded = mod.llama3Tokenizer;
    const special = (name: string, id: number): void => {
      if (loaded?.getSpecialTokenId(name) !== id) throw new Error(`llama3-tokenizer-js: ${name} is not token ${id}`);
    };
    special('<|begin_of_text|>', BOS);
    special('<|start_header_id|>', START_HEADER);
    special('<|end_header_id|>', END_HEADER);
    special('<|eot_id|>', EOT);
  }
  return loaded;
}

/**
 * Repeated strings (a BIRD schema, a system prompt, a conversation's earlier turns) are encoded
 * once: a cache bounded by total characters, cleared whole when full (the repeats that matter
 * are recent).
 */
const CACHE_MAX_CHARS = 32 * 1024 * 1024;
const cache = new Map<string, Uint32Array>();
let cachedChars = 0;

/** Token ids of `text` without special tokens. */
export function encodeText(text: string): Uint32Array {
  const hit = cache.get(text);
  if (hit) return hit;
  const ids = Uint32Array.from(tokenizer().encode(text, { bos: false, eos: false }));
  if (text.length <= CACHE_MAX_CHARS / 8) {
    if (cachedChars + text.length > CACHE_MAX_CHARS) {
      cache.clear();
      cachedChars = 0;
    }
    cache.set(text, ids);
    cachedChars += text.length;
  }
  return ids;
}

/** What vLLM's benchmark counts for a raw prompt: `<|begin_of_text|>` + the text's tokens. */
export function encodePrompt(text: string): Uint32Array {
  return concatIds([BOS], encodeText(text));
}

export function concatIds(...parts: ArrayLike<number>[]): Uint32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export type ChatRole = 'system' | 'user' | 'assistant';

/** `<|start_header_id|>ROLE<|end_header_id|>\n\n`: Llama 3's chat-template header of one message. */
export function chatHeader(role: ChatRole): Uint32Array {
  return concatIds([START_HEADER], encodeText(role), [END_HEADER], encodeText('\n\n'));
}

/**
 * Token ids of a chat in Llama 3's template, ending with the assistant header the model answers
 * after (what vLLM's /v1/chat/completions feeds the engine, minus the 3.1 template's date
 * preamble). Each message is encoded on its own and cached, so re-sending a history costs
 * nothing and a longer history's ids start with the shorter one's.
 */
export function encodeChat(messages: readonly { role: ChatRole; content: string }[]): Uint32Array {
  const parts: ArrayLike<number>[] = [[BOS]];
  for (const m of messages) parts.push(chatHeader(m.role), encodeText(m.content), [EOT]);
  parts.push(chatHeader('assistant'));
  return concatIds(...parts);
}

/** Tokens an answer costs to generate: its text plus the end-of-turn token. */
export function answerTokens(text: string): number {
  return encodeText(text).length + 1;
}

/** The answer's token ids as a chat history re-sends them: its text, then end-of-turn. */
export function answerIds(text: string): Uint32Array {
  return concatIds(encodeText(text), [EOT]);
}
