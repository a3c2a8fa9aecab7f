import type { Request } from './request.js';
import type { TraceFormat } from './trace.js';
import { FieldReader } from './fields.js';
import { readLines } from './lines.js';
import { encodeText } from './tokenizer.js';
import { located } from '../util/errors.js';

/**
 * AIBrix workload JSONL (its workload generator's output): one line per logical timestamp in ms,
 * `{"timestamp": 19, "requests": [{"prompt", "prompt_length", "output_length", "session_id"}]}`;
 * older files spell the lengths "Prompt Length" / "Output Length". AIBrix's client sends a line's
 * requests together, so they keep the line's timestamp. A prompt's text gives its token ids
 * (prefix identity); `prompt_length` (the generator's own count) wins for the length when given.
 */
function lengthOf(r: FieldReader, keys: string[], required: boolean): number | undefined {
  for (const k of keys) if (r.has(k)) return r.number(k, { min: 0, integer: true });
  if (required) r.fail(keys[0], 'an integer >= 0');
  return undefined;
}

async function* aibrixRequests(path: string): AsyncGenerator<Request> {
  let index = 0;
  for await (const { line, n } of readLines(path)) {
    if (line.trim() === '') continue;
    const f: FieldReader = FieldReader.parseJson(path, n, line);
    const arrivalS = f.number('timestamp', { min: 0 }) / 1000;
    const list = f.raw('requests');
    if (!Array.isArray(list)) f.fail('requests', 'an array of requests');
    for (let i = 0; i < list.length; i++) {
      const item: unknown = list[i];
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw located(path, n, `field "requests[${i}]": expected an object`);
      }
      const r = new FieldReader(path, n, item as Record<string, unknown>);
      const prompt = r.optString('prompt');
      const ids = prompt !== undefined && prompt !== '' ? encodeText(prompt) : undefined;
      const promptLength = lengthOf(r, ['prompt_length', 'Prompt Length'], ids === undefined);
      const outputLength = lengthOf(r, ['output_length', 'Output Length'], true) ?? 1;
      yield {
        id: `aibrix-${index++}`,
        arrivalS,
        inputTokens: Math.max(1, promptLength ?? ids?.length ?? 1),
        outputTokens: Math.max(1, outputLength),
        prefix: ids ? { kind: 'tokens', ids } : undefined,
        text: prompt,
        sessionId: r.optString('session_id'),
      };
    }
  }
}

export const aibrixFormat: TraceFormat = {
  name: 'aibrix',
  description: 'AIBrix workload JSONL ({"timestamp": ms, "requests": [{"prompt","prompt_length","output_length","session_id"}]})',
  detect: (head) => {
    const first = head.replace(/^\s+/, '').split('\n', 1)[0];
    return /"timestamp"\s*:/.test(first) && /"requests"\s*:\s*\[/.test(first);
  },
  signature: { kind: 'jsonl', fields: ['timestamp', 'requests'] },
  read: aibrixRequests,
};
