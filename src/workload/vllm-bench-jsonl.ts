import type { Request } from './request.js';
import { FieldReader } from './fields.js';
import { located } from '../util/errors.js';

/**
 * The vLLM-benchmark / LLMServingSim workload JSONL:
 * `{"input_toks","output_toks","arrival_time_ns","input_tok_ids"[,"output_tok_ids"]}`.
 * Token ids make prefix caching exact.
 */
export function parseVllmBenchLine(file: string, n: number, text: string, index: number): Request {
  const f = FieldReader.parseJson(file, n, text);
  const inputTokens = f.number('input_toks', { min: 1, integer: true });
  const outputTokens = f.number('output_toks', { min: 1, integer: true });
  const arrivalS = f.number('arrival_time_ns', { min: 0 }) / 1e9;
  let prefix: Request['prefix'];
  if (f.has('input_tok_ids')) {
    const ids = f.intArray('input_tok_ids');
    if (ids.length !== inputTokens) {
      throw located(file, n, `field "input_tok_ids": ${ids.length} ids but "input_toks" is ${inputTokens}`);
    }
    prefix = { kind: 'tokens', ids: Uint32Array.from(ids) };
  }
  let outputTokenIds: Uint32Array | undefined;
  if (prefix && f.has('output_tok_ids')) {
    const out = f.intArray('output_tok_ids');
    if (out.length !== outputTokens) {
      throw located(file, n, `field "output_tok_ids": ${out.length} ids but "output_toks" is ${outputTokens}`);
    }
    outputTokenIds = Uint32Array.from(out);
  }
  return { id: `bench-${index}`, arrivalS, inputTokens, outputTokens, prefix, outputTokenIds };
}
