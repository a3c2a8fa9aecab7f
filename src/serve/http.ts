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

/** `readBody` with callbacks (the per-request path: no promise, no extra microtask turn); one of them is called, once. */
export function readBodyThen(req: IncomingMessage, res: ServerResponse, limits: BodyLimits, onBody: (body: Buffer) => void, onError: (err: HttpError) => void): void {
  let settled = false;
  const resolve = (body: Buffer): void => {
    if (settled) return;
    settled = true;
    onBody(body);
  };
  const reject = (err: HttpError): void => {
    if (settled) return;
    settled = true;
    onError(err);
  };
  const limit = limits.maxBytes;
  const declared = Number(req.headers['content-length']);
  const chunks: Buffer[] = [];
  let size = 0;
  let over: HttpError | undefined;
  let taken = 0;
  const budget = limits.budget;
  const refuse = (e: HttpError): void => {
    over = e;
    chunks.length = 0;
    budget?.give(taken);
    taken = 0;
    // Declared too big to drain: answer now and close (the client may not see it; bounded).
    if (Number.isFinite(declared) && declared - size > limits.drainBytes) {
      res.setHeader('connection', 'close');
      reject(e);
    }
  };
  if (Number.isFinite(declared) && declared > limit) {
    refuse(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, 'payload_too_large'));
    if (res.hasHeader('connection')) {
      req.resume();
      return;
    }
  }
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (over) {
      if (size - limit > limits.drainBytes) {
        res.setHeader('connection', 'close');
        reject(over);
        req.removeAllListeners('data');
        req.resume();
      }
      return;
    }
    if (size > limit) {
      refuse(new HttpError(413, `request body exceeds the limit of ${limit} bytes`, 'payload_too_large'));
      return;
    }
    if (budget) {
      if (!budget.take(c.length)) {
        refuse(new HttpError(503, `serve holds ${budget.used} bytes of request bodies (limit ${budget.cap}); retry shortly`, 'overloaded', null, { 'retry-after': '1' }));
        return;
      }
      taken += c.length;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (over) reject(over);
    else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
  req.on('error', (err) => {
    budget?.give(taken);
    taken = 0;
    reject(new HttpError(400, `could not read the request body (${err.message})`, 'bad_body'));
  });
  // A connection closed mid-body ends nothing else: give the bytes back.
  req.on('close', () => {
    if (!req.complete && taken > 0) {
      budget?.give(taken);
      taken = 0;
    }
  });
}
