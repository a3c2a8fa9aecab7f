import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import type { Request } from './request.js';
import type { TraceFormat } from './trace.js';
import { UserError, located } from '../util/errors.js';

/**
 * CSV traces with token counts only (no text, no prefix identity), streamed with csv-parse:
 * - Azure LLM inference (Splitwise) `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like
 *   `2023-11-16 18:15:46.6805900` (7 fractional digits); arrivals are seconds after the first row.
 * - BurstGPT `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`, timestamps in
 *   seconds. Failed requests log 0 response tokens; they still cost a prefill, so they become
 *   one-token answers (likewise a 0-token prompt becomes one token).
 */
interface Row {
  record: Record<string, string>;
  line: number;
}

async function* csvRows(path: string): AsyncGenerator<Row> {
  const parser = createReadStream(path).pipe(
    parse({ columns: (header: string[]) => header.map((h) => h.trim()), info: true, skip_empty_lines: true, trim: true, bom: true }),
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { record, line: info.lines };
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as Error & { lines?: number; code?: string };
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') throw new UserError(`${path}: cannot read trace (${e.code})`);
    throw located(path, e.lines, `malformed CSV (${e.message})`);
  }
}

function count(path: string, row: Row, field: string): number {
  const raw = row.record[field];
  const v = Number(raw);
  if (raw === undefined || raw === '' || !Number.isInteger(v) || v < 0) {
    throw located(path, row.line, `field "${field}": expected an integer >= 0, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  }
  return v;
}

const AZURE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/** Whole seconds since the epoch and the fraction apart: 7 fractional digits do not survive one float64. */
export function parseAzureTimestamp(raw: string): { s: number; frac: number } | undefined {
  const m = AZURE_TIME.exec(raw);
  if (!m) return undefined;
  const s = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
  if (!Number.isFinite(s)) return undefined;
  return { s, frac: m[7] ? Number(`0.${m[7]}`) : 0 };
}

async function* azureRequests(path: string): AsyncGenerator<Request> {
  let first: { s: number; frac: number } | undefined;
  let index = 0;
  for await (const row of csvRows(path)) {
    const raw = row.record.TIMESTAMP;
    const t = raw === undefined ? undefined : parseAzureTimestamp(raw);
    if (!t) throw located(path, row.line, `field "TIMESTAMP": expected a time like 2023-11-16 18:15:46.6805900, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
    first ??= t;
    yield {
      id: `azure-${index++}`,
      arrivalS: t.s - first.s + (t.frac - first.frac),
      inputTokens: Math.max(1, count(path, row, 'ContextTokens')),
      outputTokens: Math.max(1, count(path, row, 'GeneratedTokens')),
    };
  }
}

async function* burstGptRequests(path: string): AsyncGenerator<Request> {
  let first: number | undefined;
  let index = 0;
  for await (const row of csvRows(path)) {
    const raw = row.record.Timestamp;
    const t = Number(raw);
    if (raw === undefined || raw === '' || !Number.isFinite(t) || t < 0) {
      throw located(path, row.line, `field "Timestamp": expected seconds >= 0, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
    }
    first ??= t;
    yield {
      id: `burstgpt-${index++}`,
      arrivalS: t - first,
      inputTokens: Math.max(1, count(path, row, 'Request tokens')),
      outputTokens: Math.max(1, count(path, row, 'Response tokens')),
    };
  }
}

function header(head: string): string {
  return head.replace(/^\ufeff/, '').replace(/^\s+/, '').split(/\r?\n/, 1)[0];
}

export const azureFormat: TraceFormat = {
  name: 'azure',
  description: 'Azure LLM inference CSV (TIMESTAMP,ContextTokens,GeneratedTokens)',
  detect: (head) => /^TIMESTAMP\s*,\s*ContextTokens\s*,\s*GeneratedTokens\s*$/i.test(header(head)),
  signature: { kind: 'csv', fields: ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'] },
  read: azureRequests,
};

export const burstGptFormat: TraceFormat = {
  name: 'burstgpt',
  description: 'BurstGPT CSV (Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type)',
  detect: (head) => /^Timestamp\s*,\s*Model\s*,\s*Request tokens\s*,\s*Response tokens/i.test(header(head)),
  signature: { kind: 'csv', fields: ['Timestamp', 'Model', 'Request tokens', 'Response tokens'] },
  read: burstGptRequests,
};
