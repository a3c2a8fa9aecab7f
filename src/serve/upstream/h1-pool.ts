import type { IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { H1ResponseParser, type ResponseSink } from './h1-parser.js';
import { sweepIntervalMs } from '../sweep-interval.js';

/** What a handler may do to its request (the part of undici's DispatchController serve uses). */
export interface UpstreamController {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** The handler of one upstream request, in undici's (v7) dispatch-handler shape so one class serves both clients. */
export interface UpstreamHandler {
  onRequestStart?(ctl: UpstreamController): void;
  onResponseStart?(ctl: UpstreamController, status: number, headers: IncomingHttpHeaders): void;
  onResponseData?(ctl: UpstreamController, chunk: Buffer): void;
  onResponseEnd?(ctl: UpstreamController, trailers: IncomingHttpHeaders): void;
  onResponseError?(ctl: UpstreamController, err: Error): void;
}

export interface UpstreamRequest {
  method: string;
  /** Path and query, starting with `/`. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface H1PoolOptions {
  /** Most sockets open at once; requests beyond wait in order. */
  connections: number;
  /** An idle socket is closed after this long (shortened by the upstream's `keep-alive: timeout=`). */
  keepAliveTimeoutMs: number;
  /** Longest wait for a response head once the request is written. */
  headersTimeoutMs: number;
  /** Longest silence between body bytes (not counted while the handler has paused the body). */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

/** An error with undici's code, so the lifecycle classifies failures of both clients alike. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** undici closes an idle socket this long before the upstream's advertised keep-alive timeout. */
const KEEP_ALIVE_THRESHOLD_MS = 2000;
const KEEP_ALIVE_MAX_MS = 600_000;
/** The sweep that enforces the timeouts runs this often: a tenth of the shortest timeout, within bounds. */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const now = (): number => performance.now();

/** One request through the pool: its controller for the handler, and the parser's sink. */
class Exchange implements UpstreamController, ResponseSink {
  conn?: Conn;
  ended = false;
  paused = false;
  /** When the request went out, and when the last response byte came (performance.now ms). */
  sentMs = 0;
  lastByteMs = 0;

  constructor(
    readonly pool: H1Pool,
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  /** Marks the request ended (false if it already was) and closes its socket if it has one. */
  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    const conn = this.conn;
    if (conn) {
      conn.parser.paused = true;
      conn.destroy();
    }
    return true;
  }

  abort(reason: Error): void {
    const queued = this.conn === undefined;
    if (!this.end()) return;
    if (queued) this.pool.dequeue(this);
    // Reported on the next tick, as undici does: the caller is often inside one of its own callbacks.
    process.nextTick(() => this.handler.onResponseError?.(this, reason));
  }

  pause(): void {
    if (this.ended || this.paused) return;
    this.paused = true;
    const conn = this.conn;
    if (conn) {
      conn.parser.paused = true;
      conn.socket.pause();
    }
  }

  resume(): void {
    if (this.ended || !this.paused) return;
    this.paused = false;
    this.lastByteMs = now();
    const conn = this.conn;
    if (conn) {
      conn.parser.paused = false;
      conn.socket.resume();
      conn.feedHeld();
    }
  }

  /** Fails the request (socket trouble, a timeout, a protocol error); the socket is closed. */
  fail(err: Error): void {
    if (!this.end()) return;
    this.handler.onResponseError?.(this, err);
  }

  onHead(status: number, headers: IncomingHttpHeaders): void {
    if (this.ended) return;
    this.handler.onResponseStart?.(this, status, headers);
  }

  onBody(chunk: Buffer): void {
    if (this.ended) return;
    this.handler.onResponseData?.(this, chunk);
  }

  onEnd(trailers: IncomingHttpHeaders): void {
    if (this.ended) return;
    this.ended = true;
    // The socket goes back to the pool once the parser has returned (see Conn.feed).
    this.handler.onResponseEnd?.(this, trailers);
  }
}

/**
 * The parser an idle socket holds between requests. Its own parser's sink is the last
 * exchange, which holds that request's handler (the whole request: lifecycle, client request
 * and response, bodies): kept on an idle socket, a finished request stayed reachable until the
 * socket's next request, long enough on a socket deep in the free list to be promoted to the old
 * heap and to make scavenges copy it (see docs/serve.md, garbage collection). Nothing calls it:
 * every use of a socket's parser happens while the socket carries a request.
 */
const IDLE_PARSER = new H1ResponseParser({ onHead: () => undefined, onBody: () => undefined, onEnd: () => undefined }, false);

/** One keep-alive socket, carrying one request at a time. */
class Conn {
  readonly socket: Socket;
  busy?: Exchange;
  parser = IDLE_PARSER;
  idleSinceMs = 0;
  /** How long this socket may sit idle (the upstream may ask for less than the pool's default). */
  keepAliveMs: number;
  /** Bytes of a read not yet parsed because the handler paused. */
  private held?: Buffer;
  private dead = false;
  /** The upstream ended the connection (what it sent before is still parsed). */
  private eof = false;
  private connectTimer?: NodeJS.Timeout;

  constructor(
    readonly pool: H1Pool,
    host: string,
    port: number,
  ) {
    this.keepAliveMs = pool.o.keepAliveTimeoutMs;
    const socket = connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    this.socket = socket;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      this.fail(new UpstreamError(`Connect Timeout Error (attempted address: ${host}:${port}, timeout: ${pool.o.connectTimeoutMs}ms)`, 'UND_ERR_CONNECT_TIMEOUT'));
    }, pool.o.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    });
    socket.on('data', (buf: Buffer) => {
      this.onData(buf);
    });
    socket.on('error', (err: Error) => {
      this.fail(err);
    });
    socket.on('end', () => {
      this.eof = true;
      this.ended();
    });
    socket.on('close', () => {
      this.eof = true;
      this.ended();
    });
  }

  /** Sends `ex` on this socket. */
  send(ex: Exchange): void {
    const { method, path, headers, body } = ex.req;
    this.busy = ex;
    ex.conn = this;
    this.parser = new H1ResponseParser(ex, method === 'HEAD');
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.pool.hostHeader}\r\nconnection: keep-alive\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    head += body !== undefined ? `content-length: ${body.length}\r\n\r\n` : BODY_METHODS.has(method) ? 'content-length: 0\r\n\r\n' : '\r\n';
    ex.sentMs = ex.lastByteMs = now();
    const s = this.socket;
    if (body !== undefined && body.length > 0) {
      s.cork();
      s.write(head, 'latin1');
      s.write(body);
      s.uncork();
    } else s.write(head, 'latin1');
  }

  private onData(buf: Buffer): void {
    const ex = this.busy;
    if (ex === undefined || ex.ended) {
      // Bytes nobody asked for (pipelining is off): the socket's framing cannot be trusted.
      this.destroy();
      return;
    }
    ex.lastByteMs = now();
    this.feed(buf, 0);
  }

  private feed(buf: Buffer, from: number): void {
    const ex = this.busy;
    if (ex === undefined) return;
    const parser = this.parser;
    let at: number;
    try {
      at = parser.execute(buf, from);
    } catch (err) {
      // A protocol error, or a handler's callback threw (as with undici: the request fails).
      if (ex.ended) this.destroy();
      else ex.fail(err as Error);
      return;
    }
    if (this.dead) return;
    if (parser.done) {
      // Bytes after the response (pipelining is off): the socket's framing cannot be trusted.
      if (at < buf.length) this.destroy();
      else this.released();
    } else if (at < buf.length && parser.paused && !ex.ended) this.held = at === 0 ? buf : buf.subarray(at);
    else if (this.eof && this.held === undefined) this.ended();
  }

  /** The handler resumed: parse what came while it was paused. */
  feedHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.feed(held, 0);
  }

  /** The upstream finished sending (or the socket closed): a body that runs to the end is complete, anything else is cut short. */
  private ended(): void {
    const ex = this.busy;
    if (ex === undefined || ex.ended) {
      this.destroy();
      return;
    }
    // Bytes held while paused are parsed on resume first (they may complete the response).
    if (this.held !== undefined) return;
    if (this.parser.untilClose) {
      this.parser.finish();
      this.destroy();
    } else ex.fail(new UpstreamError('other side closed', 'UND_ERR_SOCKET'));
  }

  private fail(err: Error): void {
    const ex = this.busy;
    if (ex && !ex.ended) ex.fail(err);
    else this.destroy();
  }

  /** The response is complete: back to the pool when the socket may carry another request. */
  released(): void {
    const ex = this.busy;
    this.busy = undefined;
    if (ex) ex.conn = undefined;
    if (this.dead) return;
    const parser = this.parser;
    this.parser = IDLE_PARSER;
    // As undici: the upstream's `keep-alive: timeout=N` less a threshold, else the pool's default.
    const hint = parser.keepAliveHintMs;
    this.keepAliveMs = hint === undefined ? this.pool.o.keepAliveTimeoutMs : Math.min(hint - KEEP_ALIVE_THRESHOLD_MS, KEEP_ALIVE_MAX_MS);
    if (!parser.keepAlive || this.keepAliveMs <= 0 || this.eof || this.pool.closed) {
      this.destroy();
      return;
    }
    this.pool.idle(this);
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.socket.destroy();
    this.pool.gone(this);
  }

  /** Enforces the timeouts (called by the pool's sweep). */
  sweep(t: number): void {
    const ex = this.busy;
    if (ex === undefined) {
      if (t - this.idleSinceMs > this.keepAliveMs) this.destroy();
      return;
    }
    if (ex.ended || ex.paused) return;
    if (!this.parser.started) {
      if (t - ex.sentMs > this.pool.o.headersTimeoutMs) ex.fail(new UpstreamError('Headers Timeout Error', 'UND_ERR_HEADERS_TIMEOUT'));
    } else if (t - ex.lastByteMs > this.pool.o.bodyTimeoutMs) ex.fail(new UpstreamError('Body Timeout Error', 'UND_ERR_BODY_TIMEOUT'));
  }
}

/**
 * A lean HTTP/1.1 client for one upstream origin (plain http): keep-alive sockets, one request
 * at a time per socket, requests beyond `connections` queued in order. It does what serve's
 * attempts need and no more — no redirects, no retries, no pipelining — so a proxied request
 * costs one request write, one parse of the response in JavaScript (body bytes handed on as
 * views of what the socket read) and the handler's callbacks. Timeouts are enforced by one
 * sweep per pool (running while it has sockets), not by timers per request.
 * Errors carry undici's codes (UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT,
 * UND_ERR_CONNECT_TIMEOUT, UND_ERR_SOCKET) or the socket's own (ECONNREFUSED, ECONNRESET, ...).
 */
export class H1Pool {
  readonly hostHeader: string;
  private readonly host: string;
  private readonly port: number;
  private readonly free: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly queue: Exchange[] = [];
  private queueHead = 0;
  private sweepTimer?: NodeJS.Timeout;
  private readonly sweepMs: number;
  closed = false;
  private onClosed?: () => void;

  constructor(
    origin: string,
    readonly o: H1PoolOptions,
  ) {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new Error(`H1Pool: only http: origins (got ${u.protocol})`);
    this.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port === '' ? 80 : Number(u.port);
    this.hostHeader = u.host;
    this.sweepMs = sweepIntervalMs(Math.min(o.headersTimeoutMs, o.bodyTimeoutMs, o.keepAliveTimeoutMs));
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex = new Exchange(this, req, handler);
    handler.onRequestStart?.(ex);
    if (ex.ended) return;
    if (this.closed) {
      ex.ended = true;
      process.nextTick(() => handler.onResponseError?.(ex, new UpstreamError('The client is closed', 'UND_ERR_CLOSED')));
      return;
    }
    for (const k in req.headers) {
      const v = req.headers[k];
      if (!TOKEN.test(k) || HEADER_VALUE_BAD.test(v)) {
        ex.ended = true;
        process.nextTick(() => handler.onResponseError?.(ex, new UpstreamError(`invalid ${k} header`, 'UND_ERR_INVALID_ARG')));
        return;
      }
    }
    const conn = this.take();
    if (conn) conn.send(ex);
    else if (this.all.size < this.o.connections) this.open().send(ex);
    else this.queue.push(ex);
  }

  /** Closes idle sockets now and the others once their request ends; resolves when none is left. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.free]) c.destroy();
    if (this.all.size === 0 && this.queue.length === this.queueHead) return Promise.resolve();
    return new Promise((resolve) => (this.onClosed = resolve));
  }

  // ---- for Conn and Exchange ---------------------------------------------------------------

  /** A socket finished its response and may be reused. */
  idle(c: Conn): void {
    const next = this.nextQueued();
    if (next) {
      c.send(next);
      return;
    }
    c.idleSinceMs = now();
    this.free.push(c);
  }

  gone(c: Conn): void {
    if (!this.all.delete(c)) return;
    const i = this.free.indexOf(c);
    if (i >= 0) this.free.splice(i, 1);
    // A queued request takes the place of a socket that went away.
    if (this.queue.length > this.queueHead && this.all.size < this.o.connections) {
      const next = this.nextQueued();
      if (next) this.open().send(next);
    }
    if (this.all.size === 0) {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      if (this.closed && this.queue.length === this.queueHead) this.onClosed?.();
    }
  }

  dequeue(ex: Exchange): void {
    const i = this.queue.indexOf(ex, this.queueHead);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.closed && this.all.size === 0 && this.queue.length === this.queueHead) this.onClosed?.();
  }

  private nextQueued(): Exchange | undefined {
    while (this.queueHead < this.queue.length) {
      const ex = this.queue[this.queueHead++];
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      }
      if (!ex.ended) return ex;
    }
    return undefined;
  }

  private take(): Conn | undefined {
    const t = now();
    for (;;) {
      const c = this.free.pop();
      if (c === undefined) return undefined;
      // Past its keep-alive: the upstream may be closing it right now.
      if (t - c.idleSinceMs > c.keepAliveMs) {
        c.destroy();
        continue;
      }
      return c;
    }
  }

  private open(): Conn {
    const c = new Conn(this, this.host, this.port);
    this.all.add(c);
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(() => {
        this.sweep();
      }, this.sweepMs);
      this.sweepTimer.unref();
    }
    return c;
  }

  private sweep(): void {
    const t = now();
    for (const c of [...this.all]) c.sweep(t);
  }
}
