import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './openai-error.js';

/** The path of a request target without its query. */
export function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q >= 0 ? u.slice(0, q) : u;
}

/** Percent-decodes one path segment; a malformed escape is the client's mistake (400), not ours. */
export function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: "${raw.slice(0, 200)}"`, 'invalid_path');
  }
}

export function methodNotAllowed(allowed: string[]): HttpError {
  return new HttpError(405, `method not allowed (allowed: ${allowed.join(', ')})`, 'method_not_allowed', null, { allow: allowed.join(', ') });
}

export function sendJson(res: ServerResponse, method: string, allowed: string[], status: number, body: unknown): void {
  if (!allowed.includes(method)) throw methodNotAllowed(allowed);
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(method === 'HEAD' ? undefined : text);
}

/**
 * Only `application/json` (parameters allowed): `application/json-patch+json` and the like are
 * other formats that happen to be JSON-encoded, not an OpenAI request body.
 */
export function isJsonContentType(ct: string): boolean {
  const semi = ct.indexOf(';');
  return (semi >= 0 ? ct.slice(0, semi) : ct).trim().toLowerCase() === 'application/json';
}

/** Request-body bytes held across all requests (reading, or waiting on their upstream). */
export class ByteBudget {
  used = 0;
  constructor(readonly cap: number) {}

  /** Takes `n` bytes; false (nothing taken) when that would pass the cap, unless nothing is held. */
  take(n: number): boolean {
    if (this.used + n > this.cap && this.used > 0) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }
}

export interface BodyLimits {
  /** Largest body accepted. */
  maxBytes: number;
  /**
   * After a 413, up to this many more bytes are read and thrown away so the client, which is
   * still uploading, gets to read the answer instead of a reset connection.
   */
  drainBytes: number;
  /** Shared budget; a body that does not fit gets 503 (drained like a 413). The caller gives back a resolved body's bytes. */
  budget?: ByteBudget;
}

/**
 * Reads a request body up to `maxBytes`. A larger body is refused with 413: the answer waits
 * until the rest of the body has been read and discarded (at most `drainBytes` more, else the
 * connection is closed), because closing a socket the client is still writing to makes it see
 * EPIPE/ECONNRESET rather than the 413.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => readBodyThen(req, res, limits, resolve, reject));
}

/** The state of one body being read; the listeners are shared functions that find it on the request. */
class BodyRead {
  settled = false;
  readonly chunks: Buffer[] = [];
  size = 0;
  over?: HttpError;
  /** Bytes taken from the budget (given back if the body never completes). */
  taken = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly limits: BodyLimits,
    readonly declared: number,
    private readonly onBody: (body: Buffer) => void,
    private readonly onError: (err: HttpError) => void,
  ) {}

  resolve(body: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    this.onBody(body);
  }

  reject(err: HttpError): void {
    if (this.settled) return;
    this.settled = true;
    this.onError(err);
  }

  refuse(e: HttpError): void {
    this.over = e;
    this.chunks.length = 0;
    this.limits.budget?.give(this.taken);
    this.taken = 0;
    // Declared too big to drain: answer now and close (the client may not see it; bounded).
    if (Number.isFinite(this.declared) && this.declared - this.size > this.limits.drainBytes) {
      this.res.setHeader('connection', 'close');
      this.reject(e);
    }
  }
}

const READ = Symbol('body read');
type Reading = IncomingMessage & { [READ]: BodyRead };

function onBodyData(this: Reading, c: Buffer): void {
  const r = this[READ];
  const { limits } = r;
  const limit = limits.maxBytes;
  r.size += c.length;
  if (r.over) {
    if (r.size - limit > limits.drainBytes) {
      r.res.setHeader('connection', 'close');
      r.reject(r.over);
      this.removeAllListeners('data');
      this.resume();
    }
    return;
  }
  if (r.size > limit) {
    r.refuse(new HttpError(413, `request body exceeds the limit of ${limit} bytes`, 'payload_too_large'));
    return;
  }
  const budget = limits.budget;
  if (budget) {
    if (!budget.take(c.length)) {
      r.refuse(new HttpError(503, `serve holds ${budget.used} bytes of request bodies (limit ${budget.cap}); retry shortly`, 'overloaded', null, { 'retry-after': '1' }));
      return;
    }
    r.taken += c.length;
  }
  r.chunks.push(c);
}

function onBodyEnd(this: Reading): void {
  const r = this[READ];
  if (r.over) r.reject(r.over);
  else r.resolve(r.chunks.length === 1 ? r.chunks[0] : Buffer.concat(r.chunks, r.size));
}

function onBodyError(this: Reading, err: Error): void {
  const r = this[READ];
  r.limits.budget?.give(r.taken);
  r.taken = 0;
  r.reject(new HttpError(400, `could not read the request body (${err.message})`, 'bad_body'));
}

/** A connection closed mid-body ends nothing else: give the bytes back. */
function onBodyClose(this: Reading): void {
  const r = this[READ];
  if (!this.complete && r.taken > 0) {
    r.limits.budget?.give(r.taken);
    r.taken = 0;
  }
}

/**
 * `readBody` with callbacks (the per-request path: no promise, no extra microtask turn, no
 * closure per listener); one of them is called, once.
 */
export function readBodyThen(req: IncomingMessage, res: ServerResponse, limits: BodyLimits, onBody: (body: Buffer) => void, onError: (err: HttpError) => void): void {
  const limit = limits.maxBytes;
  const declared = Number(req.headers['content-length']);
  const r = new BodyRead(req, res, limits, declared, onBody, onError);
  if (Number.isFinite(declared) && declared > limit) {
    r.refuse(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, 'payload_too_large'));
    if (res.hasHeader('connection')) {
      req.resume();
      return;
    }
  }
  (req as Reading)[READ] = r;
  req.on('data', onBodyData);
  req.on('end', onBodyEnd);
  req.on('error', onBodyError);
  req.on('close', onBodyClose);
}
