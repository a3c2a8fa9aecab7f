import type { Request } from './request.js';
import type { TraceFormat } from './trace.js';
import { FieldReader } from './fields.js';
import { readLines } from './lines.js';
import { located } from '../util/errors.js';

/** Tokens per Mooncake `hash_ids` block. */
export const MOONCAKE_BLOCK_TOKENS = 512;

/**
 * Mooncake JSONL (FAST'25 traces): `{"timestamp": ms, "input_length", "output_length", "hash_ids"}`.
 * Each hash id names one 512-token block; equal leading ids are a shared KV prefix, so prefix
 * identity is `{kind:'blocks', blockTokens: 512, hashIds}` and the engine's prefix cache works
 * without text.
 *
 * Timestamps are whole milliseconds, so several requests can share one. The k requests stamped
 * T are spread evenly over that millisecond, at T + i/k ms (i = 0..k-1), rather than arriving
 * in one burst the trace did not record.
 */
function parseLine(file: string, n: number, text: string, index: number): { ms: number; req: Request } {
  const f = FieldReader.parseJson(file, n, text);
  const ms = f.number('timestamp', { min: 0 });
  const inputTokens = f.number('input_length', { min: 1, integer: true });
  const outputTokens = f.number('output_length', { min: 0, integer: true });
  const hashIds = f.intArray('hash_ids');
  const need = Math.ceil(inputTokens / MOONCAKE_BLOCK_TOKENS);
  if (hashIds.length !== need) {
    throw located(file, n, `field "hash_ids": ${hashIds.length} blocks, but "input_length" ${inputTokens} needs ${need} blocks of ${MOONCAKE_BLOCK_TOKENS} tokens`);
  }
  return {
    ms,
    req: {
      id: `mooncake-${index}`,
      arrivalS: ms / 1000,
      inputTokens,
      // A zero-length answer still costs the first decode step; the engine needs at least one token.
      outputTokens: Math.max(1, outputTokens),
      prefix: { kind: 'blocks', blockTokens: MOONCAKE_BLOCK_TOKENS, hashIds: Float64Array.from(hashIds) },
    },
  };
}

/** Spreads each run of requests sharing one timestamp evenly over its `bucketS`-second bucket. */
export async function* spreadBuckets<T extends { ms: number; req: Request }>(items: AsyncIterable<T>, bucketS: number): AsyncGenerator<Request> {
  let group: T[] = [];
  const flush = function* (): Generator<Request> {
    const k = group.length;
    for (let i = 0; i < k; i++) {
      const g = group[i];
      yield i === 0 ? g.req : { ...g.req, arrivalS: g.ms / 1000 + (i * bucketS) / k };
    }
    group = [];
  };
  for await (const item of items) {
    if (group.length > 0 && item.ms !== group[0].ms) yield* flush();
    group.push(item);
  }
  yield* flush();
}

async function* mooncakeRequests(path: string): AsyncGenerator<Request> {
  async function* parsed(): AsyncGenerator<{ ms: number; req: Request }> {
    let index = 0;
    for await (const { line, n } of readLines(path)) {
      if (line.trim() === '') continue;
      yield parseLine(path, n, line, index++);
    }
  }
  yield* spreadBuckets(parsed(), 0.001);
}

export const mooncakeFormat: TraceFormat = {
  name: 'mooncake',
  description: 'Mooncake JSONL (timestamp ms, input_length, output_length, hash_ids of 512-token blocks)',
  detect: (head) => {
    const first = head.replace(/^\s+/, '').split('\n', 1)[0];
    return /"hash_ids"\s*:/.test(first) && /"input_length"\s*:/.test(first) && /"timestamp"\s*:/.test(first);
  },
  signature: { kind: 'jsonl', fields: ['timestamp', 'input_length', 'output_length', 'hash_ids'] },
  read: mooncakeRequests,
};
