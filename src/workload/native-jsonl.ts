import type { PrefixIdentity, Request, Slo } from './request.js';
import { FieldReader } from './fields.js';
import { located } from '../util/errors.js';

/**
 * The project's own trace format, one JSON object per line (documented in traces/README.md):
 * `{"id","arrival_s","input_tokens","output_tokens","token_ids"|"hash_ids"+"hash_block_tokens",
 *   "text","session_id","user_id","slo":{"ttft_ms","tpot_ms","e2e_ms","tpat_ms"},"source","model","lora","tenant","priority"}`.
 */
export function parseNativeLine(file: string, n: number, text: string): Request {
  const f = FieldReader.parseJson(file, n, text);
  const arrivalS = f.number('arrival_s', { min: 0 });
  const outputTokens = f.number('output_tokens', { min: 1, integer: true });
  let prefix: PrefixIdentity | undefined;
  let inputTokens: number;
  if (f.has('token_ids')) {
    const ids = f.intArray('token_ids');
    prefix = { kind: 'tokens', ids };
    inputTokens = f.optNumber('input_tokens', { min: 1, integer: true }) ?? ids.length;
    if (inputTokens !== ids.length) {
      throw located(file, n, `field "input_tokens": ${inputTokens} disagrees with the ${ids.length} entries of "token_ids"`);
    }
  } else {
    inputTokens = f.number('input_tokens', { min: 1, integer: true });
    if (f.has('hash_ids')) {
      prefix = {
        kind: 'blocks',
        hashIds: f.intArray('hash_ids'),
        blockTokens: f.optNumber('hash_block_tokens', { min: 1, integer: true }) ?? 16,
      };
    }
  }
  let slo: Slo | undefined;
  if (f.has('slo')) {
    const s = f.object('slo');
    slo = {
      ttftMs: s.optNumber('ttft_ms', { min: 0 }),
      tpotMs: s.optNumber('tpot_ms', { min: 0 }),
      e2eMs: s.optNumber('e2e_ms', { min: 0 }),
      tpatMs: s.optNumber('tpat_ms', { min: 0 }),
    };
  }
  return {
    id: f.optString('id') ?? `line-${n}`,
    arrivalS,
    inputTokens,
    outputTokens,
    prefix,
    text: f.optString('text'),
    sessionId: f.optString('session_id'),
    userId: f.optString('user_id'),
    slo,
    source: f.optString('source'),
    model: f.optString('model'),
    adapter: f.optString('lora') ?? f.optString('adapter'),
    tenant: f.optString('tenant'),
    priority: f.optString('priority'),
  };
}

/** Serialises a request in the native format (used by `trace convert`, `serve --record`, generators). */
export function formatNativeLine(r: Request, opts: { withText?: boolean; withTokenIds?: boolean } = {}): string {
  const o: Record<string, unknown> = {
    id: r.id,
    arrival_s: Math.round(r.arrivalS * 1e6) / 1e6,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
  };
  if (r.prefix?.kind === 'blocks') {
    o.hash_ids = Array.from(r.prefix.hashIds);
    o.hash_block_tokens = r.prefix.blockTokens;
  } else if (r.prefix?.kind === 'tokens' && opts.withTokenIds !== false) {
    o.token_ids = Array.from(r.prefix.ids);
  }
  if (r.text !== undefined && opts.withText) o.text = r.text;
  if (r.sessionId !== undefined) o.session_id = r.sessionId;
  if (r.userId !== undefined) o.user_id = r.userId;
  if (r.slo) {
    o.slo = { ttft_ms: r.slo.ttftMs, tpot_ms: r.slo.tpotMs, e2e_ms: r.slo.e2eMs, tpat_ms: r.slo.tpatMs };
  }
  if (r.source !== undefined) o.source = r.source;
  if (r.model !== undefined) o.model = r.model;
  if (r.adapter !== undefined) o.lora = r.adapter;
  if (r.tenant !== undefined) o.tenant = r.tenant;
  if (r.priority !== undefined) o.priority = r.priority;
  return JSON.stringify(o);
}
