/**
 * bench:proxy's default backend: the fixture upstream's answers (test/serve/fixtures/upstream.ts,
 * the same `completion` function, so the same bodies) served from raw `node:net` instead of
 * node:http, so that the bench's backends cost little CPU next to the proxy under test. They share
 * one CPU with wrk; with node:http each stream cost the fixture enough that the direct run's own
 * tail (no proxy at all) exceeded the 3× p99/p50 the bench checks the proxies against.
 *
 * What it does not pay for: node:http's parser and response objects, and building a response per
 * request. A response is built once per distinct (path, body) and kept (bounded cache), with the
 * Date header refreshed once a second. The bytes on the wire are the fixture's, header order and
 * case included (test/bench/upstream-net.test.ts compares them), and so is the write pattern: a
 * JSON answer is one write; a stream is one write of the header block, then one of all its
 * chunked SSE events and the terminating chunk (the fixture writes its events back to back
 * within one tick, which node:http corks into one writev). The proxy still reads a real chunked
 * stream of 16 events, a usage chunk when asked for, and [DONE].
 *
 * What differs from the fixture, none of which bench:proxy uses: no /_control, /_stats or /_reset
 * (so no fail, stall or die modes), no /v1/embeddings; requests must carry Content-Length
 * (chunked request bodies and HTTP/1.0 get a 501 and the connection is closed); idle connections
 * are never timed out; vllm:num_requests_running in /metrics is always 0 (every answer is written
 * in the tick its request is parsed, so none is ever in flight).
 *
 *   node dist/bench/upstream-net.js --listen PORT [MODEL]   (prints "port N" once listening)
 */
import { STATUS_CODES } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { completion, DEFAULT_TOKENS, metricsText } from '../test/serve/fixtures/upstream.js';

/** Distinct (path, body) answers kept; the bench rotates over 64 bodies per mode. */
const CACHE_LIMIT = 4096;
/** Requests above this size (head or body) close the connection: a bench backend, not a server. */
const MAX_REQUEST = 1 << 20;

interface Prebuilt {
  /** The Date value the buffers were built with. */
  date: string;
  /** The writes, in order. */
  writes: Buffer[];
  promptTokens: number;
  completionTokens: number;
}

/** node:http's header block for a response the fixture writes with writeHead(status, headers). */
function head(status: number, headers: string, date: string, close: boolean, tail: string): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${headers}Date: ${date}\r\n${close ? 'Connection: close\r\n' : 'Connection: keep-alive\r\nKeep-Alive: timeout=60\r\n'}${tail}\r\n`;
}

/** A JSON answer as the fixture's json() writes it: content-type and content-length first. */
function jsonWrite(status: number, text: string, date: string, close: boolean): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([Buffer.from(head(status, `content-type: application/json\r\ncontent-length: ${body.length}\r\n`, date, close, ''), 'latin1'), body]);
}

/** SSE events in HTTP/1.1 chunked framing as node:http writes them, then the last chunk. */
function chunked(events: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of events) {
    const b = Buffer.from(e);
    parts.push(Buffer.from(`${b.length.toString(16)}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

export class NetUpstream {
  readonly server: Server;
  private readonly cache = new Map<string, Prebuilt>();
  private promptTokens = 0;
  private generationTokens = 0;
  private dateSecond = -1;
  private dateText = '';
  /** Requests answered (any path). */
  requests = 0;

  constructor(readonly model = 'fixture-model') {
    this.server = createServer({ noDelay: true }, (socket) => this.connection(socket));
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      for (const s of this.sockets) s.destroy();
    });
  }

  private readonly sockets = new Set<Socket>();

  /** The Date header's value, as node:http caches it: recomputed when the second changes. */
  private date(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.dateText = new Date(now).toUTCString();
    }
    return this.dateText;
  }

  private connection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      pending = undefined;
      // Every complete request in the buffer, in order (pipelined ones too).
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const headText = buf.toString('latin1', 0, end + 2);
        const bodyStart = end + 4;
        const line = headText.slice(0, headText.indexOf('\r\n'));
        const [method, target, version] = line.split(' ');
        const lengthMatch = /\r\ncontent-length:[ \t]*(\d+)/i.exec(headText);
        if (version !== 'HTTP/1.1' || /\r\ntransfer-encoding:/i.test(headText) || method === undefined || target === undefined) {
          socket.end(`HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nConnection: close\r\n\r\n`);
          return;
        }
        const length = lengthMatch ? Number(lengthMatch[1]) : 0;
        if (length > MAX_REQUEST) {
          socket.destroy();
          return;
        }
        if (buf.length < bodyStart + length) break;
        const raw = buf.toString('utf8', bodyStart, bodyStart + length);
        buf = buf.subarray(bodyStart + length);
        const close = /\r\nconnection:[ \t]*close/i.test(headText);
        this.answer(socket, target.split('?')[0], raw, close);
        if (close) {
          socket.end();
          return;
        }
      }
      if (buf.length > MAX_REQUEST) socket.destroy();
      else if (buf.length > 0) pending = Buffer.from(buf);
    });
  }

  private answer(socket: Socket, path: string, raw: string, close: boolean): void {
    this.requests++;
    const date = this.date();
    if (path === '/health') {
      socket.write(jsonWrite(200, '{}', date, close));
      return;
    }
    if (path === '/metrics') {
      const text = metricsText(this.model, 0, this.promptTokens, this.generationTokens);
      // The fixture's writeHead without a length, then end(text): node:http sends it chunked.
      socket.write(Buffer.concat([Buffer.from(head(200, 'content-type: text/plain; version=0.0.4\r\n', date, close, 'Transfer-Encoding: chunked\r\n'), 'latin1'), chunked([text])]));
      return;
    }
    if (path === '/v1/models') {
      socket.write(jsonWrite(200, JSON.stringify({ object: 'list', data: [{ id: this.model, object: 'model', created: 1700000000, owned_by: 'fixture' }] }), date, close));
      return;
    }
    const key = `${close ? 'c' : 'k'}${path} ${raw}`;
    let p = this.cache.get(key);
    if (p === undefined || p.date !== date) {
      p = this.build(path, raw, date, close);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, p);
    }
    this.promptTokens += p.promptTokens;
    this.generationTokens += p.completionTokens;
    for (const w of p.writes) socket.write(w);
  }

  private build(path: string, raw: string, date: string, close: boolean): Prebuilt {
    const a = completion(path, raw, this.model, DEFAULT_TOKENS);
    if (a.kind === 'error') return { date, writes: [jsonWrite(a.status, a.text, date, close)], promptTokens: 0, completionTokens: 0 };
    if (a.kind === 'json') return { date, writes: [jsonWrite(200, a.text, date, close)], promptTokens: a.promptTokens, completionTokens: a.completionTokens };
    const h = Buffer.from(head(200, 'content-type: text/event-stream\r\ncache-control: no-cache\r\n', date, close, 'Transfer-Encoding: chunked\r\n'), 'latin1');
    return { date, writes: [h, chunked(a.events)], promptTokens: a.promptTokens, completionTokens: a.completionTokens };
  }
}

if (process.argv[2] === '--listen') {
  const up = new NetUpstream(process.argv[4] ?? 'fixture-model');
  const p = await up.listen(Number(process.argv[3] ?? 0));
  process.stdout.write(`port ${p}\n`);
  process.on('SIGTERM', () => void up.close().then(() => process.exit(0)));
}
