import { openSync, readSync, closeSync, statSync } from 'node:fs';
import type { Request } from './request.js';
import { readLines } from './lines.js';
import { parseNativeLine } from './native-jsonl.js';
import { parseVllmBenchLine } from './vllm-bench-jsonl.js';
import { UserError, located } from '../util/errors.js';
import { DEFAULTS } from '../defaults.js';
import { defaultArrivalSpec, imposeArrivals } from './arrivals.js';
import { shareGptFormat, shareGptMultiFormat, shareGptVllmFormat } from './sharegpt.js';
import { birdFormat } from './bird.js';
import { mooncakeFormat } from './mooncake.js';
import { aibrixFormat } from './aibrix-jsonl.js';
import { azureFormat, burstGptFormat } from './azure-csv.js';

/** A trace reader: recognises its format from the start of a file and streams `Request`s. */
export interface TraceFormat {
  readonly name: string;
  readonly description: string;
  /** `head` is the file's first bytes (up to 256 KiB) as text. */
  detect(head: string, path: string): boolean;
  read(path: string): AsyncIterable<Request>;
  /**
   * The format has no timestamps (ShareGPT, BIRD): `read` yields arrival 0 with a session's turns
   * consecutive, and the workload imposes an arrival process (`src/workload/arrivals.ts`).
   */
  readonly untimed?: boolean;
  /**
   * The fields a file of this format carries: CSV header columns or keys of each JSON line. Only
   * used to explain a failed detection (which known format a file nearly matched, what it lacks).
   */
  readonly signature?: { kind: 'csv' | 'jsonl'; fields: readonly string[] };
}

async function* jsonlRequests(
  path: string,
  parse: (file: string, n: number, text: string, index: number) => Request,
): AsyncGenerator<Request> {
  let index = 0;
  for await (const { line, n } of readLines(path)) {
    if (line.trim() === '') continue;
    yield parse(path, n, line, index++);
  }
}

const formats: TraceFormat[] = [
  {
    name: 'jsonl',
    description: "the project's own JSONL (arrival_s, input_tokens, output_tokens, ...)",
    detect: (head) => /"arrival_s"\s*:/.test(firstLine(head)),
    signature: { kind: 'jsonl', fields: ['arrival_s', 'input_tokens', 'output_tokens'] },
    read: (path) => jsonlRequests(path, parseNativeLine),
  },
  {
    name: 'vllm-bench',
    description: 'vLLM-benchmark JSONL (input_toks, output_toks, arrival_time_ns, input_tok_ids)',
    detect: (head) => /"arrival_time_ns"\s*:/.test(firstLine(head)) && /"input_toks"\s*:/.test(firstLine(head)),
    signature: { kind: 'jsonl', fields: ['arrival_time_ns', 'input_toks', 'output_toks'] },
    read: (path) => jsonlRequests(path, parseVllmBenchLine),
  },
];

/** Adds a reader; later formats are tried after earlier ones. */
export function registerTraceFormat(format: TraceFormat): void {
  const at = formats.findIndex((f) => f.name === format.name);
  if (at >= 0) formats[at] = format;
  else formats.push(format);
}

export function traceFormats(): readonly TraceFormat[] {
  return formats;
}

function firstLine(head: string): string {
  const trimmed = head.replace(/^\s+/, '');
  const nl = trimmed.indexOf('\n');
  return nl < 0 ? trimmed : trimmed.slice(0, nl);
}

function readHead(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new UserError(`${path}: cannot open trace (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const buf = Buffer.alloc(256 * 1024);
    const got = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** A directory opens fine on Linux and fails only at the first read: say so up front. */
function rejectDirectory(path: string): void {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${path}: is a directory; expected a trace file`);
}

export function detectFormat(path: string, explicit?: string): TraceFormat {
  rejectDirectory(path);
  if (explicit) {
    const f = formats.find((x) => x.name === explicit);
    if (!f) throw new UserError(`--format ${explicit}: unknown trace format (known: ${formats.map((x) => x.name).join(', ')})`);
    return f;
  }
  const head = readHead(path);
  if (head.trim() === '') throw new UserError(`${path}: the trace is empty`);
  const f = formats.find((x) => x.detect(head, path));
  if (!f) {
    throw new UserError(`${path}: unrecognised trace format${nearMiss(head)} (known: ${formats.map((x) => x.name).join(', ')}; pass --format)`);
  }
  return f;
}

/** The fields the file's first record has: CSV header columns, or the keys of the first JSON line. */
function fieldsOf(head: string): { kind: 'csv' | 'jsonl'; fields: string[] } | undefined {
  const line = firstLine(head.replace(/^\ufeff/, '')).replace(/\r$/, '');
  if (line.startsWith('{')) {
    const keys: string[] = [];
    for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)) keys.push(m[1]);
    return { kind: 'jsonl', fields: keys };
  }
  if (line.includes(',')) return { kind: 'csv', fields: line.split(',').map((c) => c.trim()) };
  return undefined;
}

/**
 * `: nearest is azure (...), which needs column GeneratedTokens` when the file has at least half
 * the fields of a known format; '' when nothing is close.
 */
export function nearMiss(head: string): string {
  const got = fieldsOf(head);
  if (!got) return '';
  const have = new Set(got.fields.map((x) => x.toLowerCase()));
  let best: { format: TraceFormat; missing: string[]; matched: number; share: number } | undefined;
  for (const format of formats) {
    const sig = format.signature;
    if (!sig || sig.kind !== got.kind) continue;
    const missing = sig.fields.filter((x) => !have.has(x.toLowerCase()));
    const matched = sig.fields.length - missing.length;
    const share = matched / sig.fields.length;
    if (matched === 0 || share < 0.5) continue;
    if (!best || share > best.share || (share === best.share && matched > best.matched)) best = { format, missing, matched, share };
  }
  if (!best) return '';
  const what = got.kind === 'csv' ? 'column' : 'field';
  const lacks = best.missing.length === 0
    ? `has every ${what} it needs (${best.format.signature?.fields.join(', ')}) but not in the layout it expects`
    : `lacks ${what}${best.missing.length > 1 ? 's' : ''} ${best.missing.join(', ')}`;
  const seen = got.kind === 'csv' ? `header: ${got.fields.join(',')}` : `keys: ${got.fields.join(', ')}`;
  return `: nearest known format is ${best.format.name} (${best.format.description}); this file ${lacks} (${seen})`;
}

export interface OpenTraceOptions {
  format?: string;
  limit?: number;
}

/**
 * Streams a trace's requests in arrival order; an out-of-order arrival is an error naming the
 * request. Formats without timestamps arrive as the default Poisson process
 * (`DEFAULTS.workload`); `buildWorkload` (src/workload/workload.ts) offers every other choice.
 */
export async function* openTrace(path: string, opts: OpenTraceOptions = {}): AsyncGenerator<Request> {
  const format = detectFormat(path, opts.format);
  const source = format.untimed ? imposeArrivals(format.read(path), defaultArrivalSpec(DEFAULTS.seed)) : format.read(path);
  yield* inArrivalOrder(path, source, opts.limit);
}

/** Passes requests through, failing on the first that arrives before its predecessor. */
export async function* inArrivalOrder(path: string, source: AsyncIterable<Request>, limit?: number): AsyncGenerator<Request> {
  let count = 0;
  let last = -Infinity;
  for await (const r of source) {
    if (limit !== undefined && count >= limit) return;
    if (r.arrivalS < last) {
      throw located(path, undefined, `request ${r.id} arrives at ${r.arrivalS}s, before the previous request (${last}s); traces must be sorted by arrival time`);
    }
    last = r.arrivalS;
    count++;
    yield r;
  }
}

// Readers of the public trace formats (issue 3); detection tries them in this order.
for (const f of [mooncakeFormat, aibrixFormat, shareGptFormat, shareGptVllmFormat, shareGptMultiFormat, birdFormat, azureFormat, burstGptFormat]) registerTraceFormat(f);
