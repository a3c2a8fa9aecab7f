import type { IncomingHttpHeaders } from 'node:http';

/** What the parser reports for one response. */
export interface ResponseSink {
  /** The final (≥ 200) head; 1xx interim heads are skipped. */
  onHead(status: number, headers: IncomingHttpHeaders): void;
  /** A slice of the body as it came (no copy: a view of the buffer given to `execute`). */
  onBody(chunk: Buffer): void;
  /** The body is complete (chunked trailers, if any, as headers). */
  onEnd(trailers: IncomingHttpHeaders): void;
}

/** A protocol error of the upstream (the socket cannot be trusted afterwards). */
export class UpstreamParseError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Longest response head (undici's default), chunk-size line and trailer section. */
const MAX_HEAD = 16 * 1024;
const MAX_LINE = 1024;

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkCrlf,
  Trailers,
  UntilClose,
  Done,
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Trailers of a response that had none (shared: nobody writes to it). */
const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({});

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Header lines (`name: value`, CRLF-separated) into an object as undici's parseHeaders makes it: names lower-cased, repeats as arrays. */
function parseHeaderLines(text: string, from: number, into: IncomingHttpHeaders): void {
  let at = from;
  while (at < text.length) {
    let eol = text.indexOf('\r\n', at);
    if (eol < 0) eol = text.length;
    if (eol === at) break;
    const colon = text.indexOf(':', at);
    if (colon < 0 || colon > eol || colon === at) throw new UpstreamParseError('invalid header line from the upstream', 'UND_ERR_INVALID_HEADER');
    const name = text.slice(at, colon).toLowerCase();
    const value = trimOws(text.slice(colon + 1, eol));
    const prev = into[name];
    if (prev === undefined || !Object.hasOwn(into, name)) {
      if (name === '__proto__') Object.defineProperty(into, name, { value, enumerable: true, configurable: true, writable: true });
      else into[name] = value;
    } else if (typeof prev === 'string') into[name] = [prev, value];
    else prev.push(value);
    at = eol + 2;
  }
}

/**
 * An HTTP/1.1 response parser for one keep-alive connection: status line and headers, then a
 * body framed by Content-Length, chunked transfer coding, or the connection's end. Body bytes
 * are handed on as views of the input (no copies); the parser keeps only a partial head or a
 * partial chunk-size line between reads. `execute` stops after a complete response (what
 * follows belongs to no request: pipelining is off) or when `paused` turns true in a callback.
 */
export class H1ResponseParser {
  private state = State.Head;
  private head?: Buffer;
  private remaining = 0;
  private line = '';
  private crlfSeen = 0;
  status = 0;
  /** Whether the connection may carry another request after this response. */
  keepAlive = false;
  /** The upstream's `keep-alive: timeout=N`, in ms (undefined when it gave none). */
  keepAliveHintMs?: number;
  paused = false;

  constructor(
    private readonly sink: ResponseSink,
    /** HEAD requests get a head and no body. */
    private readonly noBody: boolean,
  ) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Whether the body runs until the connection ends (no length, not chunked). */
  get untilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** Whether a head has been parsed (the response started). */
  get started(): boolean {
    return this.state !== State.Head;
  }

  /** Consumes `buf` from `from`; returns where it stopped (the end, or a pause / the response's end). Throws UpstreamParseError. */
  execute(buf: Buffer, from = 0): number {
    let i = from;
    while (i < buf.length && !this.paused) {
      switch (this.state) {
        case State.Head:
          i = this.readHead(buf, i);
          break;
        case State.Fixed: {
          const n = Math.min(this.remaining, buf.length - i);
          this.remaining -= n;
          const chunk = i === 0 && n === buf.length ? buf : buf.subarray(i, i + n);
          i += n;
          if (this.remaining === 0) this.state = State.Done;
          this.sink.onBody(chunk);
          if (this.state === State.Done) {
            this.sink.onEnd(NO_TRAILERS);
            return i;
          }
          break;
        }
        case State.ChunkSize:
          i = this.readChunkSize(buf, i);
          if (this.done) return i;
          break;
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - i);
          this.remaining -= n;
          const chunk = buf.subarray(i, i + n);
          i += n;
          if (this.remaining === 0) {
            this.state = State.ChunkCrlf;
            this.crlfSeen = 0;
          }
          this.sink.onBody(chunk);
          break;
        }
        case State.ChunkCrlf:
          while (i < buf.length && this.crlfSeen < 2) {
            if (buf[i] !== (this.crlfSeen === 0 ? 0x0d : 0x0a)) throw new UpstreamParseError('invalid chunked body from the upstream (no CRLF after chunk data)', 'HPE_STRICT');
            this.crlfSeen++;
            i++;
          }
          if (this.crlfSeen === 2) this.state = State.ChunkSize;
          break;
        case State.Trailers:
          i = this.readTrailers(buf, i);
          if (this.done) return i;
          break;
        case State.UntilClose: {
          const chunk = i === 0 ? buf : buf.subarray(i);
          i = buf.length;
          this.sink.onBody(chunk);
          break;
        }
        case State.Done:
          return i;
      }
    }
    return i;
  }

  /** The connection ended: completes a body that runs until the end; false when the response is cut short. */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.sink.onEnd(NO_TRAILERS);
      return true;
    }
    return this.state === State.Done;
  }

  private readHead(buf: Buffer, from: number): number {
    const prev = this.head;
    if (prev === undefined) {
      const end = buf.indexOf(CRLFCRLF, from);
      if (end < 0 || end - from > MAX_HEAD) {
        if (buf.length - from > MAX_HEAD) throw new UpstreamParseError('response head from the upstream over 16 KiB', 'UND_ERR_HEADERS_OVERFLOW');
        this.head = buf.subarray(from);
        return buf.length;
      }
      this.onHeadText(buf.toString('latin1', from, end + 2));
      return end + 4;
    }
    // The head spans reads: search from where the earlier part could have begun a CRLFCRLF.
    const data = Buffer.concat([prev, buf.subarray(from)]);
    const end = data.indexOf(CRLFCRLF, Math.max(0, prev.length - 3));
    if (end < 0 || end > MAX_HEAD) {
      if (data.length > MAX_HEAD) throw new UpstreamParseError('response head from the upstream over 16 KiB', 'UND_ERR_HEADERS_OVERFLOW');
      this.head = data;
      return buf.length;
    }
    this.head = undefined;
    this.onHeadText(data.toString('latin1', 0, end + 2));
    return from + end + 4 - prev.length;
  }

  private onHeadText(text: string): void {
    // "HTTP/1.1 200 OK"
    if (!text.startsWith('HTTP/1.') || text.charCodeAt(8) !== 0x20) throw new UpstreamParseError('invalid status line from the upstream', 'HPE_INVALID_CONSTANT');
    const minor = text.charCodeAt(7) - 0x30;
    const status = Number(text.slice(9, 12));
    if (!Number.isInteger(status) || status < 100 || status > 999 || (text.length > 12 && text.charCodeAt(12) !== 0x20 && text.charCodeAt(12) !== 0x0d)) {
      throw new UpstreamParseError('invalid status code from the upstream', 'HPE_INVALID_STATUS');
    }
    const lineEnd = text.indexOf('\r\n');
    const headers: IncomingHttpHeaders = {};
    parseHeaderLines(text, lineEnd + 2, headers);
    if (status < 200) {
      // As undici: serve never sends `expect`, so a 100 or 101 is a broken upstream; others (103 Early Hints) precede the final head.
      if (status === 100) throw new UpstreamParseError('bad response', 'UND_ERR_SOCKET');
      if (status === 101) throw new UpstreamParseError('bad upgrade', 'UND_ERR_SOCKET');
      return;
    }
    const conn = headers.connection as string | string[] | undefined;
    const tokens = typeof conn === 'string' ? conn.toLowerCase() : Array.isArray(conn) ? conn.join(',').toLowerCase() : '';
    this.keepAlive = minor >= 1 ? !/(^|[\s,])close($|[\s,])/.test(tokens) : /(^|[\s,])keep-alive($|[\s,])/.test(tokens);
    this.status = status;
    const ka = headers['keep-alive'];
    const hint = typeof ka === 'string' ? /timeout=(\d+)/.exec(ka) : null;
    if (hint) this.keepAliveHintMs = parseInt(hint[1], 10) * 1000;
    const te = headers['transfer-encoding'] as string | string[] | undefined;
    const cl = headers['content-length'] as string | string[] | undefined;
    if (this.noBody || status === 204 || status === 304) {
      this.state = State.Done;
    } else if (te !== undefined) {
      if (cl !== undefined) throw new UpstreamParseError('the upstream sent both Content-Length and Transfer-Encoding', 'HPE_UNEXPECTED_CONTENT_LENGTH');
      const codings = (Array.isArray(te) ? te.join(',') : te).toLowerCase();
      if (/(^|[\s,])chunked\s*$/.test(codings)) this.state = State.ChunkSize;
      else {
        this.state = State.UntilClose;
        this.keepAlive = false;
      }
      this.line = '';
    } else if (cl !== undefined) {
      const v = Array.isArray(cl) ? cl[0] : cl;
      if (Array.isArray(cl) && cl.some((x) => x !== v)) throw new UpstreamParseError('the upstream sent differing Content-Length headers', 'HPE_UNEXPECTED_CONTENT_LENGTH');
      if (!/^\d{1,15}$/.test(v)) throw new UpstreamParseError('invalid Content-Length from the upstream', 'HPE_INVALID_CONTENT_LENGTH');
      this.remaining = Number(v);
      this.state = this.remaining === 0 ? State.Done : State.Fixed;
    } else {
      this.state = State.UntilClose;
      this.keepAlive = false;
    }
    this.sink.onHead(status, headers);
    if (this.state === State.Done) this.sink.onEnd(NO_TRAILERS);
  }

  private readChunkSize(buf: Buffer, from: number): number {
    if (this.line === '') {
      // The usual case, a whole `HEX\r\n` line in this read: parsed from the bytes, no strings.
      let size = 0;
      let i = from;
      const end = Math.min(buf.length, from + 13);
      for (; i < end; i++) {
        const c = buf[i];
        const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
        if (d < 0) break;
        size = size * 16 + d;
      }
      if (i > from && i + 1 < buf.length && buf[i] === 0x0d && buf[i + 1] === 0x0a) return this.chunkSized(size, buf, i + 2);
    }
    const nl = buf.indexOf(0x0a, from);
    const end = nl < 0 ? buf.length : nl + 1;
    this.line += buf.toString('latin1', from, end);
    if (this.line.length > MAX_LINE) throw new UpstreamParseError('chunk-size line from the upstream over 1 KiB', 'HPE_INVALID_CHUNK_SIZE');
    if (nl < 0) return end;
    const line = this.line;
    this.line = '';
    if (line.length < 2 || line.charCodeAt(line.length - 2) !== 0x0d) throw new UpstreamParseError('invalid chunk-size line from the upstream', 'HPE_INVALID_CHUNK_SIZE');
    let semi = line.indexOf(';');
    if (semi < 0) semi = line.length - 2;
    const hex = trimOws(line.slice(0, semi));
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new UpstreamParseError('invalid chunk size from the upstream', 'HPE_INVALID_CHUNK_SIZE');
    return this.chunkSized(parseInt(hex, 16), buf, end);
  }

  private chunkSized(size: number, buf: Buffer, at: number): number {
    if (size === 0) {
      this.state = State.Trailers;
      return this.readTrailers(buf, at);
    }
    this.remaining = size;
    this.state = State.ChunkData;
    return at;
  }

  /** After the last chunk: trailer lines up to an empty line. */
  private readTrailers(buf: Buffer, from: number): number {
    if (this.line === '' && from + 1 < buf.length && buf[from] === 0x0d && buf[from + 1] === 0x0a) {
      this.state = State.Done;
      this.sink.onEnd(NO_TRAILERS);
      return from + 2;
    }
    let i = from;
    while (i < buf.length) {
      const nl = buf.indexOf(0x0a, i);
      const end = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', i, end);
      if (this.line.length > MAX_HEAD) throw new UpstreamParseError('trailers from the upstream over 16 KiB', 'UND_ERR_HEADERS_OVERFLOW');
      i = end;
      if (nl < 0) return i;
      if (this.line.endsWith('\r\n\r\n') || this.line === '\r\n') {
        const text = this.line;
        this.line = '';
        this.state = State.Done;
        const trailers: IncomingHttpHeaders = {};
        if (text !== '\r\n') parseHeaderLines(text, 0, trailers);
        this.sink.onEnd(trailers);
        return i;
      }
    }
    return i;
  }
}
