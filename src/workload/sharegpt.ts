import type { Request } from './request.js';
import type { TraceFormat } from './trace-format.js';
import { readJsonArray } from './json-array.js';
import { RecordReader } from './records.js';
import { answerIds, answerTokens, encodeChat, encodePrompt, type ChatRole } from './tokenizer.js';

/**
 * ShareGPT JSON: `[{"id","conversations":[{"from":"human"|"gpt"|"system","value"}]}]`.
 * No timestamps: readers yield arrival 0 and the workload imposes an arrival process.
 */
interface Turn {
  role: ChatRole;
  content: string;
}

/** Speaker names seen in ShareGPT dumps (answers also come as chatgpt, bing or bard). */
const ROLES: Record<string, ChatRole> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  chatgpt: 'assistant',
  bing: 'assistant',
  bard: 'assistant',
  assistant: 'assistant',
  system: 'system',
};

async function* conversations(path: string): AsyncGenerator<{ id: string; turns: Turn[] }> {
  for await (const { value, index, line } of readJsonArray(path)) {
    const r = new RecordReader(path, line, index, value);
    const obj = r.object();
    const conv = r.array(obj, 'conversations');
    const turns: Turn[] = conv.map((m, i) => {
      const field = `conversations[${i}]`;
      const msg = r.objectAt(m, field);
      const from = r.string(msg, 'from', `${field}.from`);
      const role = ROLES[from];
      if (!role) r.fail(`${field}.from`, `one of ${Object.keys(ROLES).join('/')}`, from);
      return { role, content: r.string(msg, 'value', `${field}.value`) };
    });
    yield { id: r.optString(obj, 'id') ?? `sharegpt-${index}`, turns };
  }
}

/**
 * Single-turn, as vLLM's benchmark samples ShareGPT: records whose first two turns are
 * human → gpt; prompt = the human turn as a raw prompt (`<|begin_of_text|>` + its tokens), output
 * length = the gpt answer's token count as vLLM counts it (the tokenizer's ids, which include the
 * begin token: the same number as the answer's tokens plus end-of-turn).
 */
async function* singleTurn(path: string, lengthFilter = false): AsyncGenerator<Request> {
  for await (const c of conversations(path)) {
    const [q, a] = c.turns;
    if (!q || !a || q.role !== 'user' || a.role !== 'assistant') continue;
    const ids = encodePrompt(q.content);
    const outputTokens = answerTokens(a.content);
    if (lengthFilter && !vllmValidLengths(ids.length, outputTokens)) continue;
    yield {
      id: c.id,
      arrivalS: 0,
      inputTokens: ids.length,
      outputTokens,
      prefix: { kind: 'tokens', ids },
      text: q.content,
    };
  }
}

/** vLLM's `is_valid_sequence` defaults: both at least 4 tokens, prompt ≤ 1024, prompt + output ≤ 2048. */
export function vllmValidLengths(prompt: number, output: number): boolean {
  return prompt >= 4 && output >= 4 && prompt <= 1024 && prompt + output <= 2048;
}

/**
 * Multi-turn sessions: an optional system turn, then the leading run of human → gpt pairs. Turn k
 * re-sends the whole history (system, then user/assistant pairs 1..k-1, then user k) in Llama 3's
 * chat template, so each turn's prompt starts with the previous turn's prompt and answer.
 * Turns of one conversation come out consecutively with one sessionId; the arrival process
 * spaces them by a think time.
 */
async function* multiTurn(path: string): AsyncGenerator<Request> {
  for await (const c of conversations(path)) {
    let i = 0;
    const history: Turn[] = [];
    if (c.turns[0]?.role === 'system') history.push(c.turns[i++]);
    let k = 0;
    for (; i + 1 < c.turns.length && c.turns[i].role === 'user' && c.turns[i + 1].role === 'assistant'; i += 2) {
      history.push(c.turns[i]);
      const ids = encodeChat(history);
      // The answer as the next turn re-sends it, so the engine can cache it under that content.
      const answer = answerIds(c.turns[i + 1].content);
      yield {
        id: `${c.id}#${k++}`,
        arrivalS: 0,
        inputTokens: ids.length,
        outputTokens: answer.length,
        outputTokenIds: answer,
        prefix: { kind: 'tokens', ids },
        text: history.map((t) => t.content).join('\n'),
        sessionId: c.id,
      };
      history.push(c.turns[i + 1]);
    }
  }
}

function looksLikeShareGpt(head: string): boolean {
  return /^\s*(\ufeff)?\s*\[/.test(head) && /"conversations"\s*:/.test(head);
}

export const shareGptFormat: TraceFormat = {
  name: 'sharegpt',
  description: 'ShareGPT JSON, single-turn as vLLM benchmarks it (first human turn → prompt, gpt answer → output length)',
  untimed: true,
  detect: looksLikeShareGpt,
  read: singleTurn,
};

export const shareGptVllmFormat: TraceFormat = {
  name: 'sharegpt-vllm',
  description: "ShareGPT JSON single-turn with vLLM's length filter too (prompt and output >= 4 tokens, prompt <= 1024, total <= 2048)",
  untimed: true,
  detect: () => false,
  read: (path) => singleTurn(path, true),
};

export const shareGptMultiFormat: TraceFormat = {
  name: 'sharegpt-multi',
  description: 'ShareGPT JSON as multi-turn sessions (each turn re-sends the history; select with --multi-turn or --format)',
  untimed: true,
  detect: () => false,
  read: multiTurn,
};
