/**
 * OpenAI-compatible request parsing and response shapes as vLLM produces them
 * (vllm/entrypoints/openai/protocol.py; see shared/reference/metrics.md §3–4).
 */

export type Endpoint = 'chat' | 'completion';

/** An error answered as `{"error":{"message","type","param","code"}}` (vLLM ≥ 0.10 nests it; code = HTTP status). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
  body(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: this.param, code: this.status } });
  }
}

export const badRequest = (message: string, param: string | null = null): ApiError => new ApiError(400, message, 'BadRequestError', param);

/** What the mock needs of a completion request. */
export interface CompletionCall {
  endpoint: Endpoint;
  model?: string;
  /** Prompt text to tokenize (chat: the contents joined by newlines), or token ids given directly. */
  prompt: string | number[];
  /** Chat messages as sent (for tokenizers that apply a chat template). */
  messages?: { role: string; content: string }[];
  maxTokens?: number;
  stream: boolean;
  includeUsage: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of one chat message's content: a string or an array of `{type:"text",text}` parts. */
function contentText(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    return v
      .map((part, j) => {
        if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
          throw badRequest(`messages[${i}].content[${j}]: only {"type":"text","text":...} parts are supported`, 'messages');
        }
        return part.text;
      })
      .join(' ');
  }
  throw badRequest(`messages[${i}].content: expected a string or an array of text parts`, 'messages');
}

function positiveInt(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw badRequest(`${key}: expected a positive integer, got ${JSON.stringify(v)}`, key);
  return v;
}

export function parseCompletionCall(endpoint: Endpoint, body: unknown): CompletionCall {
  if (!isObject(body)) throw badRequest('the request body must be a JSON object');
  let prompt: string | number[];
  let messages: { role: string; content: string }[] | undefined;
  if (endpoint === 'chat') {
    const msgs = body.messages;
    if (!Array.isArray(msgs) || msgs.length === 0) throw badRequest('messages: expected a non-empty array', 'messages');
    messages = msgs.map((m, i) => {
      if (!isObject(m) || typeof m.role !== 'string') throw badRequest(`messages[${i}]: expected an object with a string "role"`, 'messages');
      return { role: m.role, content: contentText(m.content, i) };
    });
    // Joined as serve joins them (src/serve/parse-body.ts, as SGLang does), so both count alike.
    prompt = messages.map((m) => m.content).join(' ');
  } else {
    let p = body.prompt;
    if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
    if (typeof p === 'string') prompt = p;
    else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) prompt = p as number[];
    else throw badRequest('prompt: expected a string or an array of token ids (batched prompts are not supported)', 'prompt');
  }
  if (body.model !== undefined && typeof body.model !== 'string') throw badRequest('model: expected a string', 'model');
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw badRequest('n: only n=1 is supported', 'n');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw badRequest('stream: expected true or false', 'stream');
  const stream = body.stream === true;
  let includeUsage = false;
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!stream) throw badRequest('Stream options can only be defined when `stream=True`.', 'stream_options');
    if (!isObject(so)) throw badRequest('stream_options: expected an object', 'stream_options');
    if (so.include_usage !== undefined && so.include_usage !== null && typeof so.include_usage !== 'boolean') {
      throw badRequest('stream_options.include_usage: expected true or false', 'stream_options');
    }
    includeUsage = so.include_usage === true;
  }
  const maxTokens = positiveInt(body, 'max_completion_tokens') ?? positiveInt(body, 'max_tokens');
  return { endpoint, model: body.model, prompt, messages, maxTokens, stream, includeUsage };
}

/** Deterministic filler text: each piece is one token to the fast tokenizer (space + ≤3 letters). */
const FILLER = [' the', ' cat', ' sat', ' on', ' a', ' mat', ' and', ' saw', ' it', ' was', ' red', ' so', ' we', ' ran', ' far', ' off'];

export function fillerToken(index: number): string {
  return FILLER[(index - 1) % FILLER.length];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export function usage(prompt: number, completion: number, cached: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

/** Builds the JSON objects of one response; `id` and `created` are the same in every chunk. */
export class ResponseShapes {
  constructor(
    readonly endpoint: Endpoint,
    readonly id: string,
    readonly created: number,
    readonly model: string,
  ) {}

  private get chunkObject(): string {
    return this.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  }

  /** The first chat chunk: the assistant role with empty content (vLLM sends it before any text). */
  roleChunk(): object {
    return { id: this.id, object: this.chunkObject, created: this.created, model: this.model, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] };
  }

  private tokenPrefix?: string;

  /**
   * The serialised token chunk, byte-identical to `JSON.stringify(tokenChunk(...))` but built
   * from a cached prefix: at a few hundred streams × hundreds of steps per second, serialising
   * whole objects is most of the mock's CPU.
   */
  tokenChunkJson(text: string, finishReason: string | null): string {
    this.tokenPrefix ??= JSON.stringify(this.tokenChunk('\u0000', null)).split('"\\u0000"')[0];
    const fr = finishReason === null ? 'null' : JSON.stringify(finishReason);
    const t = JSON.stringify(text);
    return this.endpoint === 'chat'
      ? `${this.tokenPrefix}${t}},"logprobs":null,"finish_reason":${fr},"stop_reason":null}]}`
      : `${this.tokenPrefix}${t},"logprobs":null,"finish_reason":${fr},"stop_reason":null}]}`;
  }

  tokenChunk(text: string, finishReason: string | null): object {
    const choice =
      this.endpoint === 'chat'
        ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: finishReason, stop_reason: null }
        : { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
    return { id: this.id, object: this.chunkObject, created: this.created, model: this.model, choices: [choice] };
  }

  usageChunk(u: Usage): object {
    return { id: this.id, object: this.chunkObject, created: this.created, model: this.model, choices: [], usage: u };
  }

  full(text: string, finishReason: string, u: Usage): object {
    const choice =
      this.endpoint === 'chat'
        ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason, stop_reason: null }
        : { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
    return { id: this.id, object: this.endpoint === 'chat' ? 'chat.completion' : 'text_completion', created: this.created, model: this.model, choices: [choice], usage: u };
  }
}
