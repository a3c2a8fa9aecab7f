import { HttpError } from './openai-error.js';

/** What serve reads from an inference request body; the body itself is forwarded unchanged. */
export interface InferenceBody {
  /** Prompt text as the policy sees it (chat messages joined with spaces, as SGLang does). */
  text?: string;
  /** Prompt token ids when the client sent ids instead of text (`/v1/completions`). */
  tokenIds?: number[];
  /** Chat messages with their text content (for tokenizers that apply a chat template). */
  messages?: { role: string; content: string }[];
  stream: boolean;
  maxTokens?: number;
  model?: string;
}

export type InferenceKind = 'chat' | 'completion';

function bad(message: string, param: string | null, code = 'invalid_value'): HttpError {
  return new HttpError(400, message, code, param);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Parses JSON and insists on an object; the message names what was wrong. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw bad(`request body is not valid JSON (${(err as Error).message})`, null, 'invalid_json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw bad(`request body must be a JSON object, got ${describe(v)}`, null, 'invalid_type');
  }
  return v as Record<string, unknown>;
}

function contentText(content: unknown, param: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad(`${param} must be a string or an array of content parts, got ${describe(content)}`, param, 'invalid_type');
  const parts: string[] = [];
  content.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof (p as { type?: unknown }).type !== 'string') {
      throw bad(`${param}[${i}] must be a content part object with a "type"`, `${param}[${i}]`, 'invalid_type');
    }
    const part = p as { type: string; text?: unknown };
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw bad(`${param}[${i}].text must be a string`, `${param}[${i}].text`, 'invalid_type');
      parts.push(part.text);
    }
  });
  return parts.join(' ');
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0);
}

const MAX_TOKENS_KEYS = ['max_tokens', 'max_completion_tokens'] as const;

/** Validates the fields serve relies on and extracts the prompt once. */
export function readInferenceBody(kind: InferenceKind, o: Record<string, unknown>): InferenceBody {
  if (o.model !== undefined && typeof o.model !== 'string') throw bad(`"model" must be a string, got ${describe(o.model)}`, 'model', 'invalid_type');
  if (o.stream !== undefined && o.stream !== null && typeof o.stream !== 'boolean') {
    throw bad(`"stream" must be a boolean, got ${describe(o.stream)}`, 'stream', 'invalid_type');
  }
  if (o.stream_options !== undefined && o.stream_options !== null && (typeof o.stream_options !== 'object' || Array.isArray(o.stream_options))) {
    throw bad(`"stream_options" must be an object, got ${describe(o.stream_options)}`, 'stream_options', 'invalid_type');
  }
  let maxTokens: number | undefined;
  for (const key of MAX_TOKENS_KEYS) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(`"${key}" must be an integer >= 1, got ${JSON.stringify(v)}`, key);
    maxTokens = v;
  }
  const out: InferenceBody = { stream: o.stream === true, maxTokens, model: o.model };
  if (kind === 'chat') {
    const msgs = o.messages;
    if (!Array.isArray(msgs)) throw bad(`"messages" must be an array, got ${describe(msgs)}`, 'messages', msgs === undefined ? 'missing_required_parameter' : 'invalid_type');
    if (msgs.length === 0) throw bad('"messages" must not be empty', 'messages');
    const messages: { role: string; content: string }[] = new Array<{ role: string; content: string }>(msgs.length);
    // The prompt text as messages.map(content).join(' ') would give, built in the same pass.
    let text = '';
    for (let i = 0; i < msgs.length; i++) {
      const m: unknown = msgs[i];
      if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad(`messages[${i}] must be an object, got ${describe(m)}`, `messages[${i}]`, 'invalid_type');
      const msg = m as { role?: unknown; content?: unknown };
      if (typeof msg.role !== 'string') throw bad(`messages[${i}].role must be a string, got ${describe(msg.role)}`, `messages[${i}].role`, 'invalid_type');
      const content = typeof msg.content === 'string' ? msg.content : contentText(msg.content, `messages[${i}].content`);
      messages[i] = { role: msg.role, content };
      text = i === 0 ? content : `${text} ${content}`;
    }
    out.messages = messages;
    out.text = text;
    return out;
  }
  const p = o.prompt;
  if (typeof p === 'string') out.text = p;
  else if (isIntArray(p)) out.tokenIds = p;
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string')) out.text = p.join(' ');
  else if (Array.isArray(p) && p.length > 0 && p.every(isIntArray)) out.tokenIds = p.flat();
  else {
    throw bad(
      `"prompt" must be a string, an array of strings, or an array of token ids, got ${p === undefined ? 'nothing' : describe(p)}`,
      'prompt',
      p === undefined ? 'missing_required_parameter' : 'invalid_type',
    );
  }
  return out;
}
