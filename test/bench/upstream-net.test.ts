import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { NetUpstream } from '../../bench/upstream-net.js';
import { proxyBodies } from '../../bench/proxy-bodies.js';
import { Upstream } from '../serve/fixtures/upstream.js';

/** A raw HTTP/1.1 client on one connection: sends requests and reads whole responses as bytes. */
class RawClient {
  private buf = Buffer.alloc(0);
  private waiter?: () => void;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(method: string, path: string, body: string, extra = ''): void {
    const b = Buffer.from(body);
    this.socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n${extra}content-length: ${b.length}\r\n\r\n`);
    this.socket.write(b);
  }

  /** The length of the first complete response in `buf`, or -1 (Content-Length or chunked framing). */
  private complete(): number {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return -1;
    const head = this.buf.toString('latin1', 0, end);
    const cl = /\r\ncontent-length: (\d+)/i.exec(head);
    if (cl) return this.buf.length >= end + 4 + Number(cl[1]) ? end + 4 + Number(cl[1]) : -1;
    assert.match(head, /\r\nTransfer-Encoding: chunked/);
    let at = end + 4;
    for (;;) {
      const nl = this.buf.indexOf('\r\n', at);
      if (nl < 0) return -1;
      const size = parseInt(this.buf.toString('latin1', at, nl), 16);
      at = nl + 2 + size + 2;
      if (this.buf.length < at) return -1;
      if (size === 0) return at;
    }
  }

  /** The next whole response, within 10 s. */
  async response(): Promise<Buffer> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const n = this.complete();
      if (n >= 0) {
        const r = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return r;
      }
      if (this.closed) throw new Error(`connection closed with ${this.buf.length} bytes unread`);
      if (Date.now() > deadline) throw new Error('no whole response within 10 s');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** Resolves when the server has closed the connection (within 10 s). */
  async closedByServer(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(this.closed, 'the server kept the connection open');
  }

  close(): void {
    this.socket.destroy();
  }
}

const DATE = /\r\nDate: ([^\r]*)\r\n/;

/** The response with its Date value replaced (the two servers answer in different seconds), after checking that value's format. */
function undated(r: Buffer): string {
  const text = r.toString('latin1');
  const m = DATE.exec(text);
  assert.ok(m, `no Date header in ${text.slice(0, 200)}`);
  assert.equal(new Date(m[1]).toUTCString(), m[1]);
  return text.replace(DATE, '\r\nDate: -\r\n');
}

const usageBody = (i: number): string => {
  const b = JSON.parse(proxyBodies(true)[i]) as Record<string, unknown>;
  return JSON.stringify({ ...b, stream_options: { include_usage: true } });
};

/** Requests both servers get, in this order, on one keep-alive connection each. */
const requests: [string, string, string][] = [
  ['GET', '/health', ''],
  ...proxyBodies(false).slice(0, 8).map((b): [string, string, string] => ['POST', '/v1/chat/completions', b]),
  ...proxyBodies(true).slice(0, 8).map((b): [string, string, string] => ['POST', '/v1/chat/completions', b]),
  // What serve forwards: the stream with a usage chunk asked for.
  ['POST', '/v1/chat/completions', usageBody(3)],
  ['POST', '/v1/completions', JSON.stringify({ model: 'fixture-model', prompt: 'hello', max_tokens: 5, stream: true })],
  ['POST', '/v1/completions', JSON.stringify({ model: 'fixture-model', prompt: 'hello', stream: false })],
  ['POST', '/v1/chat/completions', '{not json'],
  ['POST', '/v2/unknown', '{}'],
  ['GET', '/v1/models', ''],
  // The same body again: the net backend answers it from its cache.
  ['POST', '/v1/chat/completions', proxyBodies(true)[0]],
  ['GET', '/metrics', ''],
];

test('the net backend answers the bench’s requests with the fixture upstream’s bytes', async () => {
  const fixture = new Upstream();
  const net = new NetUpstream();
  const [fp, np] = [await fixture.listen(0), await net.listen(0)];
  const clients: RawClient[] = [];
  try {
    const [fc, nc] = [await RawClient.open(fp), await RawClient.open(np)];
    clients.push(fc, nc);
    let streams = 0;
    for (const [method, path, body] of requests) {
      fc.send(method, path, body);
      nc.send(method, path, body);
      const [a, b] = [undated(await fc.response()), undated(await nc.response())];
      assert.equal(b, a, `${method} ${path} ${body}`);
      if (a.includes('text/event-stream')) {
        streams++;
        // A real stream: the requested events (16 for the bench's bodies), then [DONE].
        if (body.includes('"max_tokens":16')) assert.equal(a.match(/data: \{/g)?.length, body.includes('include_usage') ? 17 : 16);
        assert.ok(a.endsWith('data: [DONE]\n\n\r\n0\r\n\r\n'));
      }
    }
    assert.equal(streams, 11);

    // Pipelined requests on one connection: answered in order, the same bytes.
    const pipelined = [proxyBodies(false)[9], proxyBodies(true)[9], proxyBodies(false)[10]];
    for (const b of pipelined) {
      fc.send('POST', '/v1/chat/completions', b);
      nc.send('POST', '/v1/chat/completions', b);
    }
    for (const b of pipelined) assert.equal(undated(await nc.response()), undated(await fc.response()), b);

    // Connection: close is answered in kind and the connection closed, by both.
    for (const c of [fc, nc]) c.send('POST', '/v1/chat/completions', proxyBodies(true)[11], 'Connection: close\r\n');
    const [a, b] = [undated(await fc.response()), undated(await nc.response())];
    assert.match(a, /\r\nConnection: close\r\n/);
    assert.equal(b, a);
    await Promise.all([fc.closedByServer(), nc.closedByServer()]);
  } finally {
    for (const c of clients) c.close();
    await Promise.all([fixture.close(), net.close()]);
  }
});

test('the net backend refuses what it does not implement, and closes the connection', async () => {
  const net = new NetUpstream();
  const port = await net.listen(0);
  const c = await RawClient.open(port);
  try {
    c.send('POST', '/v1/chat/completions', proxyBodies(false)[0], 'Transfer-Encoding: chunked\r\n');
    const r = (await c.response()).toString('latin1');
    assert.match(r, /^HTTP\/1\.1 501 Not Implemented\r\n/);
    await c.closedByServer();
  } finally {
    c.close();
    await net.close();
  }
});
