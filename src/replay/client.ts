import { Agent, request } from 'undici';

export type ApiKind = 'chat' | 'completions';

/** One streamed completion as the client saw it. Times are seconds on the caller's clock. */
export interface StreamResult {
  ok: boolean;
  status: number;
  sentAt: number;
  /** First chunk carrying generated text; NaN if none arrived. */
  firstTokenAt: number;
  endAt: number;
  /** Arrival time of every chunk that carried text, in order. */
  tokenTimes: number[];
  /** From the final usage chunk when the server sends one, else the number of text chunks. */
  outputTokens: number;
  promptTokens?: number;
  cachedTokens?: number;
  /** The `x-router-worker` response header when a router in front names the worker. */
  worker?: string;
  error?: string;
}

export interface StreamRequest {
  base: string;
  api: ApiKind;
  model?: string;
  prompt: string;
  maxTokens: number;
  signal?: AbortSignal;
  /** Records every chunk time (profile measure needs them; replay only needs the first and last). */
  keepTokenTimes?: boolean;
}

/** A connection pool for many concurrent streams; no idle timeouts (requests may queue long). */
export function createAgent(): Agent {
  return new Agent({ headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000, pipelining: 1 });
}

interface ChunkShape {
  choices?: { delta?: { content?: string | null }; text?: string | null; finish_reason?: string | null }[] | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } | null;
  error?: { message?: string } | string;
  message?: string;
  object?: string;
}

/**
 * Sends one streaming completion with `ignore_eos` and usage reporting (as `vllm bench serve`
 * does) and times it from the client: sent, first text chunk, end of stream.
 */
export async function streamCompletion(agent: Agent, r: StreamRequest, now: () => number): Promise<StreamResult> {
  const body: Record<string, unknown> = {
    max_tokens: r.maxTokens,
    min_tokens: r.maxTokens,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0,
  };
  if (r.model !== undefined) body.model = r.model;
  if (r.api === 'chat') body.messages = [{ role: 'user', content: r.prompt }];
  else body.prompt = r.prompt;
  const res: StreamResult = { ok: false, status: 0, sentAt: now(), firstTokenAt: NaN, endAt: NaN, tokenTimes: [], outputTokens: 0 };
  let textChunks = 0;
  try {
    const resp = await request(`${r.base}/v1/${r.api === 'chat' ? 'chat/completions' : 'completions'}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal: r.signal,
    });
    res.status = resp.statusCode;
    const w = resp.headers['x-router-worker'];
    if (typeof w === 'string') res.worker = w;
    if (resp.statusCode !== 200) {
      const text = await resp.body.text();
      res.endAt = now();
      res.error = `HTTP ${resp.statusCode}: ${errorMessage(text)}`;
      return res;
    }
    let buf = '';
    let done = false;
    for await (const piece of resp.body) {
      const t = now();
      buf += (piece as Buffer).toString('utf8');
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') {
            done = true;
            continue;
          }
          let c: ChunkShape;
          try {
            c = JSON.parse(data) as ChunkShape;
          } catch {
            res.error = `bad SSE data: ${data.slice(0, 80)}`;
            continue;
          }
          if (c.error !== undefined || c.object === 'error') {
            res.error = `error in stream: ${typeof c.error === 'string' ? c.error : c.error?.message ?? c.message ?? data.slice(0, 120)}`;
            continue;
          }
          const choice = c.choices?.[0];
          const text = choice?.delta?.content ?? choice?.text ?? '';
          if (text !== '') {
            textChunks++;
            if (Number.isNaN(res.firstTokenAt)) res.firstTokenAt = t;
            if (r.keepTokenTimes) res.tokenTimes.push(t);
          }
          if (c.usage) {
            res.outputTokens = c.usage.completion_tokens ?? textChunks;
            res.promptTokens = c.usage.prompt_tokens;
            res.cachedTokens = c.usage.prompt_tokens_details?.cached_tokens;
          }
        }
      }
    }
    res.endAt = now();
    if (res.outputTokens === 0) res.outputTokens = textChunks;
    if (!done && !res.error) res.error = 'stream ended without [DONE]';
    res.ok = done && !res.error && !Number.isNaN(res.firstTokenAt);
    if (done && !res.error && Number.isNaN(res.firstTokenAt)) res.error = 'no tokens in the stream';
    return res;
  } catch (err) {
    res.endAt = now();
    res.error = (err as Error).name === 'AbortError' ? 'aborted' : `${(err as NodeJS.ErrnoException).code ?? (err as Error).name}: ${(err as Error).message}`;
    return res;
  }
}

function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as ChunkShape;
    const e = j.error;
    if (typeof e === 'string') return e;
    if (e?.message) return e.message;
    if (j.message) return j.message;
  } catch {
    // not JSON: show the start of the body
  }
  return text.slice(0, 200);
}

/** The served model's name from `/v1/models`, or undefined when the target does not say. */
export async function discoverModel(agent: Agent, base: string): Promise<string | undefined> {
  try {
    const resp = await request(`${base}/v1/models`, { dispatcher: agent, signal: AbortSignal.timeout(10_000) });
    if (resp.statusCode !== 200) {
      await resp.body.dump();
      return undefined;
    }
    const j = (await resp.body.json()) as { data?: { id?: string }[] };
    return j.data?.[0]?.id;
  } catch {
    return undefined;
  }
}
