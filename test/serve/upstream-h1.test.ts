import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Pool } from 'undici';
import { H1ResponseParser, UpstreamParseError } from '../../src/serve/upstream/h1-parser.js';
import { H1Pool, type UpstreamController, type UpstreamHandler, type UpstreamRequest } from '../../src/serve/upstream/h1-pool.js';

// ---- the parser, fed every split of a response ---------------------------------------------

interface Parsed {
  heads: { status: number; headers: IncomingHttpHeaders }[];
  body: string;
  trailers?: IncomingHttpHeaders;
  keepAlive: boolean;
  done: boolean;
  error?: string;
}

/** Parses `raw` fed as `pieces` (cut at the given offsets), ending the connection when `eof`. */
function parse(raw: Buffer, cuts: number[], noBody = false, eof = false): Parsed {
  const out: Parsed = { heads: [], body: '', keepAlive: false, done: false };
  const p = new H1ResponseParser(
    {
      onHead: (status, headers) => out.heads.push({ status, headers }),
      onBody: (c) => (out.body += c.toString('latin1')),
      onEnd: (t) => (out.trailers = { ...t }),
    },
    noBody,
  );
  let prev = 0;
  try {
    for (const cut of [...cuts, raw.length]) {
      const piece = raw.subarray(prev, cut);
      prev = cut;
      let at = 0;
      while (at < piece.length && !p.done) at = p.execute(piece, at);
      if (p.done) break;
    }
    if (eof && !p.done) p.finish();
  } catch (err) {
    out.error = (err as UpstreamParseError).code;
  }
  out.done = p.done;
  out.keepAlive = p.keepAlive;
  return out;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const CASES: { name: string; raw: Buffer; noBody?: boolean; eof?: boolean; want: Partial<Parsed> }[] = [
  {
    name: 'content-length',
    raw: b('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nX-Dup: a\r\nx-dup:  b \r\n\r\n{"a":"bcd"}'),
    want: { heads: [{ status: 200, headers: { 'content-type': 'application/json', 'content-length': '11', 'x-dup': ['a', 'b'] } }], body: '{"a":"bcd"}', keepAlive: true, done: true },
  },
  {
    name: 'chunked with extensions and trailers',
    raw: b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n5\r\ndata:\r\n1A;ext=1\r\n{"choices":[],"usage":{}}\n\r\n0\r\nx-trailer: t\r\n\r\n'),
    want: { heads: [{ status: 200, headers: { 'transfer-encoding': 'chunked', 'content-type': 'text/event-stream' } }], body: 'data:{"choices":[],"usage":{}}\n', trailers: { 'x-trailer': 't' }, keepAlive: true, done: true },
  },
  {
    name: 'chunked, no trailers, connection close',
    raw: b('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    want: { body: 'abc', trailers: {}, keepAlive: false, done: true },
  },
  { name: 'interim 103 then 204', raw: b('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\nx: 1\r\n\r\n'), want: { heads: [{ status: 204, headers: { x: '1' } }], body: '', keepAlive: true, done: true } },
  { name: 'HEAD response with a length and no body', raw: b('HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n'), noBody: true, want: { body: '', done: true, keepAlive: true } },
  { name: '304', raw: b('HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n'), want: { body: '', done: true } },
  { name: 'body until close', raw: b('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nhello world'), eof: true, want: { body: 'hello world', keepAlive: false, done: true } },
  { name: 'HTTP/1.0 without keep-alive', raw: b('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'), want: { body: 'ok', keepAlive: false, done: true } },
  { name: 'HTTP/1.0 with keep-alive', raw: b('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 2\r\n\r\nok'), want: { body: 'ok', keepAlive: true, done: true } },
  { name: 'bad chunk size', raw: b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'), want: { error: 'HPE_INVALID_CHUNK_SIZE' } },
  { name: 'bad status line', raw: b('HTTX/1.1 200 OK\r\n\r\n'), want: { error: 'HPE_INVALID_CONSTANT' } },
  { name: 'no CRLF after chunk data', raw: b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n'), want: { error: 'HPE_STRICT' } },
  { name: 'length and chunked both', raw: b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n'), want: { error: 'HPE_UNEXPECTED_CONTENT_LENGTH' } },
];

test('H1ResponseParser: every split of each response into two and three pieces parses as the whole does', () => {
  for (const c of CASES) {
    const whole = parse(c.raw, [], c.noBody, c.eof);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(whole[k as keyof Parsed], v, `${c.name}: ${k}`);
    for (let i = 1; i < c.raw.length; i++) {
      assert.deepEqual(parse(c.raw, [i], c.noBody, c.eof), whole, `${c.name} cut at ${i}`);
      for (let j = i + 1; j < c.raw.length; j += 7) assert.deepEqual(parse(c.raw, [i, j], c.noBody, c.eof), whole, `${c.name} cut at ${i}, ${j}`);
    }
    assert.deepEqual(parse(c.raw, Array.from({ length: c.raw.length - 1 }, (_, i) => i + 1), c.noBody, c.eof), whole, `${c.name} byte by byte`);
  }
});

test('H1ResponseParser: a response cut short is not done, and a body until close ends with the connection', () => {
  assert.equal(parse(b('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'), [], false, true).done, false);
  assert.equal(parse(b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n'), [], false, true).done, false);
  assert.equal(parse(b('HTTP/1.1 200 OK\r\n\r\nabc'), [], false, false).done, false);
});

// ---- the pool against a scripted upstream, side by side with undici ------------------------

/** What the scripted upstream does with one request's socket. */
type Script = (s: Socket, request: string) => void | Promise<void>;

interface Scripted {
  port: number;
  server: Server;
  /** Sockets accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** A raw TCP upstream: each request (head + content-length body) is answered by `script`. */
async function scripted(script: Script): Promise<Scripted> {
  const sockets = new Set<Socket>();
  const st: Scripted = {
    port: 0,
    accepted: 0,
    server: createServer((s) => {
      st.accepted++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.toString('latin1', 0, end);
          const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          const req = buf.toString('latin1', 0, end + 4 + len);
          buf = buf.subarray(end + 4 + len);
          void script(s, req);
        }
      });
    }),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => st.server.close(() => r()));
    },
  };
  await new Promise<void>((r) => st.server.listen(0, '127.0.0.1', () => r()));
  st.port = (st.server.address() as AddressInfo).port;
  return st;
}

interface Outcome {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: string;
  error?: string;
  message?: string;
}

/** Runs one request through a client and records what the handler heard (optionally pausing after the first chunk). */
function fetchVia(dispatch: (req: UpstreamRequest, h: UpstreamHandler) => void, req: UpstreamRequest, opts: { pauseMs?: number; abortAfterHead?: boolean } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    let paused = false;
    dispatch(req, {
      onRequestStart() {
        // undici takes a handler without it for one of its older shape
      },
      onResponseStart(ctl: UpstreamController, status, headers) {
        out.status = status;
        out.headers = { ...headers };
        if (opts.abortAfterHead) ctl.abort(new Error('aborted by test'));
      },
      onResponseData(ctl, chunk) {
        out.body += chunk.toString('latin1');
        if (opts.pauseMs !== undefined && !paused) {
          paused = true;
          ctl.pause();
          setTimeout(() => ctl.resume(), opts.pauseMs);
        }
      },
      onResponseEnd() {
        resolve(out);
      },
      onResponseError(_ctl, err) {
        out.error = (err as { code?: string }).code ?? 'none';
        out.message = err.message;
        resolve(out);
      },
    });
  });
}

const OPTS = { connections: 4, keepAliveTimeoutMs: 30_000, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, connectTimeoutMs: 5000 };
const REQ: UpstreamRequest = { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'x-request-id': 'r1' }, body: Buffer.from('{"stream":true}') };

/** Writes `raw` in pieces of `size` bytes, one per event-loop turn (separate packets). */
async function dribble(s: Socket, raw: string, size: number): Promise<void> {
  for (let i = 0; i < raw.length; i += size) {
    if (s.destroyed) return;
    s.write(raw.slice(i, i + size), 'latin1');
    await new Promise((r) => setTimeout(r, 1));
  }
}

const SSE = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' + ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', 'data: [DONE]\n\n'].map((e) => `${e.length.toString(16)}\r\n${e}\r\n`).join('') + '0\r\n\r\n';

test('H1Pool answers like undici: split packets, a body until close, cut-short bodies, 204 and HEAD', async () => {
  const cases: { name: string; script: Script; req?: UpstreamRequest; error?: boolean }[] = [
    { name: 'sse in 3-byte packets', script: (s) => dribble(s, SSE, 3) },
    { name: 'json in one write', script: (s) => void s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{"ok":1}') },
    { name: 'body until close', script: async (s) => { await dribble(s, 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end', 5); s.end(); } },
    { name: 'closed mid-body (length)', script: async (s) => { await dribble(s, 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort', 4); s.end(); }, error: true },
    { name: 'closed mid-body (chunked)', script: async (s) => { await dribble(s, SSE.slice(0, SSE.length - 20), 16); s.end(); }, error: true },
    { name: 'closed before the head', script: (s) => void s.end(), error: true },
    { name: 'reset mid-body', script: async (s) => { await dribble(s, SSE.slice(0, 90), 30); s.resetAndDestroy(); }, error: true },
    { name: '204', script: (s) => void s.write('HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n') },
    { name: 'HEAD', script: (s) => void s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n'), req: { method: 'HEAD', path: '/v1/models', headers: {} } },
    { name: '103 early hints then 200', script: (s) => void s.write('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok') },
    { name: 'unasked 100 continue', script: (s) => void s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'), error: true },
    { name: 'content-length too short for the bytes', script: (s) => void s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokay') },
  ];
  for (const c of cases) {
    const up = await scripted(c.script);
    const origin = `http://127.0.0.1:${up.port}`;
    const h1 = new H1Pool(origin, OPTS);
    const ud = new Pool(origin, { connections: 4, pipelining: 1 });
    try {
      const mine = await fetchVia((r, h) => h1.dispatch(r, h), c.req ?? REQ);
      const theirs = await fetchVia((r, h) => ud.dispatch(r, h), c.req ?? REQ);
      if (c.error) {
        assert.ok(mine.error !== undefined && theirs.error !== undefined, `${c.name}: both fail (${mine.error} / ${theirs.error})`);
        // The lifecycle classifies by code: the same code means the same retry and breaker decision.
        assert.equal(mine.error, theirs.error, c.name);
        // The message reaches clients in a stream's error event.
        assert.equal(mine.message, theirs.message, c.name);
        assert.equal(mine.body, theirs.body, `${c.name}: bytes before the failure`);
      } else {
        assert.deepEqual(mine, theirs, c.name);
      }
    } finally {
      await h1.close();
      await ud.close();
      await up.close();
    }
  }
});

test('H1Pool reuses keep-alive sockets, honours connection: close, queues beyond its connections and sends what undici sends', async () => {
  let requests: string[] = [];
  let close = false;
  const up = await scripted((s, req) => {
    requests.push(req);
    s.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${close ? 'connection: close\r\n' : ''}\r\nok`);
    if (close) s.end();
  });
  const h1 = new H1Pool(`http://127.0.0.1:${up.port}`, { ...OPTS, connections: 2 });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await fetchVia((r, h) => h1.dispatch(r, h), REQ)).body, 'ok');
    assert.equal(up.accepted, 1, 'one socket for requests one after another');
    const many = await Promise.all(Array.from({ length: 10 }, () => fetchVia((r, h) => h1.dispatch(r, h), REQ)));
    assert.ok(many.every((o) => o.body === 'ok'));
    assert.equal(up.accepted, 2, 'ten at once share the two sockets');
    close = true;
    for (let i = 0; i < 3; i++) assert.equal((await fetchVia((r, h) => h1.dispatch(r, h), REQ)).body, 'ok');
    assert.equal(up.accepted, 3, 'a socket answered with connection: close is not reused (the two idle ones, then a new one)');
    assert.equal(
      requests[0],
      `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\nconnection: keep-alive\r\ncontent-type: application/json\r\nx-request-id: r1\r\ncontent-length: 15\r\n\r\n{"stream":true}`,
    );
    requests = [];
  } finally {
    await h1.close();
    await up.close();
  }
});

test('H1Pool: refused connections, header and body timeouts and aborts carry the codes the lifecycle classifies', async () => {
  const stall = await scripted(() => undefined);
  const slowBody = await scripted((s) => void s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab'));
  const free = await scripted(() => undefined);
  const freePort = free.port;
  await free.close();
  const quick = { ...OPTS, headersTimeoutMs: 150, bodyTimeoutMs: 150 };
  const pools = [new H1Pool(`http://127.0.0.1:${freePort}`, OPTS), new H1Pool(`http://127.0.0.1:${stall.port}`, quick), new H1Pool(`http://127.0.0.1:${slowBody.port}`, quick)];
  try {
    assert.equal((await fetchVia((r, h) => pools[0].dispatch(r, h), REQ)).error, 'ECONNREFUSED');
    assert.equal((await fetchVia((r, h) => pools[1].dispatch(r, h), REQ)).error, 'UND_ERR_HEADERS_TIMEOUT');
    const body = await fetchVia((r, h) => pools[2].dispatch(r, h), REQ);
    assert.equal(body.error, 'UND_ERR_BODY_TIMEOUT');
    assert.equal(body.body, 'ab');
    // A paused body does not time out (the client is slow, not the upstream): it completes after resume.
    const paused = await scripted(async (s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab');
      await new Promise((r) => setTimeout(r, 20));
      s.write('cd');
    });
    const pp = new H1Pool(`http://127.0.0.1:${paused.port}`, quick);
    assert.deepEqual((await fetchVia((r, h) => pp.dispatch(r, h), REQ, { pauseMs: 400 })).body, 'abcd');
    await pp.close();
    await paused.close();
    // Aborted after the head: the reason reaches the handler, and the socket is not reused.
    const reason = await fetchVia((r, h) => pools[2].dispatch(r, h), REQ, { abortAfterHead: true });
    assert.equal(reason.message, 'aborted by test');
    // Aborted while queued behind a stalled request on a one-socket pool.
    const one = new H1Pool(`http://127.0.0.1:${stall.port}`, { ...OPTS, connections: 1 });
    void fetchVia((r, h) => one.dispatch(r, h), REQ);
    const queued = new Promise<string>((resolve) => {
      one.dispatch(REQ, {
        onRequestStart: (ctl) => setTimeout(() => ctl.abort(new Error('left the queue')), 10),
        onResponseError: (_c, err) => resolve(err.message),
      });
    });
    assert.equal(await queued, 'left the queue');
    void one.close();
  } finally {
    for (const p of pools) void p.close();
    await stall.close();
    await slowBody.close();
  }
});

test('H1Pool: a large body with the handler pausing on every chunk arrives whole, in order', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const up = await scripted((s) => {
    s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`);
    s.write(big);
  });
  const h1 = new H1Pool(`http://127.0.0.1:${up.port}`, OPTS);
  try {
    const hash = createHash('sha256');
    let chunks = 0;
    await new Promise<void>((resolve, reject) => {
      h1.dispatch(REQ, {
        onResponseData(ctl, c) {
          hash.update(c);
          chunks++;
          ctl.pause();
          setImmediate(() => ctl.resume());
        },
        onResponseEnd: () => resolve(),
        onResponseError: (_c, e) => reject(e),
      });
    });
    assert.equal(hash.digest('hex'), createHash('sha256').update(big).digest('hex'));
    assert.ok(chunks > 1);
  } finally {
    await h1.close();
    await up.close();
  }
});

/** V8's gc(), exposed at run time (the test runner starts node without --expose-gc). */
function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

test('H1Pool: an idle keep-alive socket does not keep its last request (handler, request body) reachable', async () => {
  const up = await scripted((s) => {
    s.write(SSE);
  });
  const h1 = new H1Pool(`http://127.0.0.1:${up.port}`, OPTS);
  const gc = forceGc();
  try {
    const refs: WeakRef<object>[] = [];
    // Runs in its own function so nothing on this test's stack holds the request or its handler.
    const one = async (): Promise<void> => {
      const req: UpstreamRequest = { ...REQ, body: Buffer.from('{"stream":true}') };
      let handler: UpstreamHandler | undefined;
      const out = await fetchVia((r, h) => {
        handler = h;
        h1.dispatch(r, h);
      }, req);
      assert.equal(out.body, 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n');
      refs.push(new WeakRef(req), new WeakRef(handler as object));
    };
    await one();
    // The socket is idle in the pool now; the request is over.
    for (let i = 0; i < 20 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    assert.deepEqual(
      refs.map((r) => r.deref() === undefined),
      [true, true],
      'the finished request and its handler were collected while their socket sat idle',
    );
    // The idle socket still carries the next request.
    assert.equal((await fetchVia((r, h) => h1.dispatch(r, h), REQ)).body, 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n');
    assert.equal(up.accepted, 1);
  } finally {
    await h1.close();
    await up.close();
  }
});
