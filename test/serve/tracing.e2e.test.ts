import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLI, call, chatBody, until } from './helpers.js';
import { decisionObserver, TRACING_OFF } from '../../src/serve/tracing.js';
import { tracingFromEnv } from '../../src/serve/tracing-env.js';
import { createPolicy } from '../../src/routing/registry.js';

/**
 * serve with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an in-process OTLP/HTTP receiver: one
 * streamed request (first attempt fails with a 503, the retry streams) must arrive as the
 * documented spans with the right parent/child links, and the worker must receive a W3C
 * traceparent naming its attempt's span.
 */

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}

const spans: OtlpSpan[] = [];
const exports: { contentType: string | undefined; service: string | undefined }[] = [];
const upstreamHeaders: IncomingHttpHeaders[] = [];
let receiver: Server;
let upstream: Server;
let upstreamCalls = 0;
const procs: ChildProcess[] = [];

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces');
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of body.resourceSpans) {
        exports.push({ contentType: req.headers['content-type'], service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue });
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  // An engine stand-in: the first completion call answers 503 (so serve retries), then SSE.
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url !== '/v1/chat/completions') {
        res.writeHead(404);
        return void res.end();
      }
      upstreamHeaders.push(req.headers);
      if (upstreamCalls++ === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        return void res.end('{"error":"warming up"}');
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (t: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t } }] })}\n\n`;
      res.write(chunk('hello'));
      setTimeout(() => {
        res.write(chunk(' world'));
        res.end('data: [DONE]\n\n');
      }, 20);
    });
  });
  await Promise.all([listen(receiver), listen(upstream)]);
});
after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await Promise.all([new Promise((r) => receiver.close(r)), new Promise((r) => upstream.close(r))]);
});

const attr = (s: OtlpSpan, key: string): string | number | boolean | undefined => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue;
};

test('one streamed request through serve: request, queue, route, upstream attempts, first byte and stream spans, linked; traceparent reaches the worker', { timeout: 60_000 }, async () => {
  const up = (upstream.address() as AddressInfo).port;
  const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'router-test' };
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--workers', `http://127.0.0.1:${up};name=w0`, '--policy', 'least-request', '--health-interval', '0', '--scrape-interval', '0', '--retry-backoff-ms', '1', '--log', 'off'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  procs.push(child);
  let out = '';
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  assert.ok(await until(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 20_000), out);
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
  // The client's own trace context: serve's request span must join it.
  const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await call(port, 'POST', '/v1/chat/completions', chatBody('trace me', { stream: true }), { traceparent: `00-${clientTrace}-00f067aa0ba902b7-01` });
  assert.equal(r.status, 200);
  assert.match(r.body.toString(), /hello[\s\S]*world[\s\S]*\[DONE\]/);
  assert.ok(await until(() => spans.filter((s) => s.name === 'router.upstream').length === 2 && spans.some((s) => s.kind === 2), 10_000), JSON.stringify(spans.map((s) => s.name)));

  const root = spans.find((s) => s.kind === 2)!; // SERVER
  assert.equal(root.name, 'POST /v1/chat/completions');
  assert.equal(root.traceId, clientTrace);
  assert.equal(root.parentSpanId, '00f067aa0ba902b7');
  assert.equal(attr(root, 'http.response.status_code'), 200);
  assert.equal(attr(root, 'router.attempts'), 2);
  assert.equal(attr(root, 'router.stream'), true);
  assert.ok(spans.every((s) => s.traceId === clientTrace), 'one trace');
  const children = (p: OtlpSpan, name: string): OtlpSpan[] => spans.filter((s) => s.parentSpanId === p.spanId && s.name === name);
  const routes = children(root, 'router.route');
  const queues = children(root, 'router.queue');
  const attempts = children(root, 'router.upstream').sort((a, b) => Number(attr(a, 'router.attempt')) - Number(attr(b, 'router.attempt')));
  assert.equal(routes.length, 2, 'first routing and the retry');
  assert.equal(queues.length, 2);
  assert.equal(attempts.length, 2);
  for (const rt of routes) {
    assert.equal(attr(rt, 'router.policy'), 'least-request');
    assert.equal(attr(rt, 'router.worker'), 'w0');
    assert.equal(attr(rt, 'router.candidates'), 1);
  }
  assert.equal(attempts[0].kind, 3); // CLIENT
  assert.equal(attr(attempts[0], 'http.response.status_code'), 503);
  assert.equal(attr(attempts[0], 'error.type'), 'upstream_status_503');
  assert.equal(attr(attempts[1], 'http.response.status_code'), 200);
  assert.equal(attr(attempts[1], 'server.port'), up);
  // The failed attempt never got a first byte; the good one waited for it, then streamed.
  assert.equal(children(attempts[0], 'router.stream').length, 0);
  const [wait] = children(attempts[1], 'router.first_byte');
  const [stream] = children(attempts[1], 'router.stream');
  assert.ok(wait && stream);
  assert.ok(BigInt(wait.endTimeUnixNano) <= BigInt(stream.startTimeUnixNano) + 1_000_000n);
  assert.equal(attr(stream, 'router.output_tokens'), 2);
  // Time nests: every child inside its parent.
  for (const s of spans) {
    const p = spans.find((x) => x.spanId === s.parentSpanId);
    if (!p) continue;
    assert.ok(BigInt(s.startTimeUnixNano) >= BigInt(p.startTimeUnixNano) && BigInt(s.endTimeUnixNano) <= BigInt(p.endTimeUnixNano) + 1_000_000n, `${s.name} inside ${p.name}`);
  }
  // Each attempt carried its own span as the parent of the worker's work.
  assert.deepEqual(upstreamHeaders.map((h) => h.traceparent), attempts.map((a) => `00-${clientTrace}-${a.spanId}-01`));
  assert.deepEqual(exports[0], { contentType: 'application/json', service: 'router-test' });
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
});

test('tracing is off without an OTLP endpoint: the no-op hooks, the policy object untouched', async () => {
  const t = await tracingFromEnv({});
  assert.equal(t, TRACING_OFF);
  const p = createPolicy('round-robin', {});
  assert.equal(t.observePolicy(p), p);
  assert.equal(await tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }), TRACING_OFF);
  const r = t.request('1', 'POST', '/v1/completions', {});
  assert.deepEqual(r.attempt({ name: 'w', url: 'http://127.0.0.1:1' }, 1).headers, {});
});

test('the decision observer sees every pick and passes the rest of the policy through', () => {
  const inner = createPolicy('round-robin', {});
  const seen: string[] = [];
  const p = decisionObserver(inner, (req, d, c) => seen.push(`${req.id}->${d.worker}/${c.length}`));
  assert.equal(p.name, inner.name);
  assert.equal(p.mode, inner.mode);
  const views = [0, 1].map((index) => ({ index, name: `w${index}`, gpu: 'l20', model: 'm', profile: 'p', costUsdPerHour: 0, healthy: true, inFlight: 0, inFlightPromptTokens: 0, inPrefill: 0 }));
  const ctx = { clock: { now: () => 0 }, rng: { next: () => 0.5, int: () => 0 } };
  for (const id of ['a', 'b']) p.pick({ id, arrivalS: 0, inputTokens: 1 }, views as never, ctx);
  assert.deepEqual(seen, ['a->0/2', 'b->1/2']);
});
