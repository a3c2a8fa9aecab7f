import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sequence } from '../engine/engine.js';
import type { Deployment } from '../profiles/types.js';
import { createRng, type Rng } from '../util/rng.js';
import type { Request } from '../workload/request.js';
import { MockMetrics, metricsPage, type MetricsStyle } from './metrics.js';
import { ApiError, badRequest, fillerToken, parseCompletionCall, ResponseShapes, usage, type CompletionCall, type Endpoint } from './openai.js';
import { RealtimeEngine } from './realtime-engine.js';
import { promptIds, type MockTokenizer } from './tokenizer.js';
import { startKvEventPublisher, type KvEventPublisher, type KvEventPublisherOptions } from './kv-events.js';
import { MockLora, type MockLoraModule } from './lora.js';
import { isPrefillCall, MockPd, PLAIN, type MockPdOptions, type PdCall } from './pd-role.js';

/** Injected faults, for testing what sits in front of a worker. */
export interface MockFaults {
  /** Fraction of completion requests answered with HTTP 500. */
  errorRate: number;
  /** A stalled request holds its tokens this long (wall ms) after its first token. */
  stallMs: number;
  /** Fraction of requests that stall (when stallMs > 0). */
  stallProb: number;
  /** The process crashes when completion request number crashAfter+1 arrives (0 = never). */
  crashAfter: number;
  /** For this long after start (wall ms), /health and completions answer 503 (model loading). */
  slowStartMs: number;
}

export const NO_FAULTS: MockFaults = { errorRate: 0, stallMs: 0, stallProb: 1, crashAfter: 0, slowStartMs: 0 };

export interface MockWorkerOptions {
  deployment: Deployment;
  /** Name clients put in "model" (also accepted: the model's catalog id). */
  servedModelName?: string;
  host: string;
  /** 0 = an ephemeral port. */
  port: number;
  speedup: number;
  metricsStyle: MetricsStyle;
  /** Output length when a request gives neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
  /** How prompts are counted (default: serve's fast tokenizer). */
  tokenizer?: MockTokenizer;
  faults: MockFaults;
  seed: number;
  /** What a crash does; the CLI exits the process, tests default to dropping every connection. */
  crash?: () => void;
  /** Publish the engine's KV cache events over ZMQ, as vLLM's --kv-events-config does. */
  kvEvents?: KvEventPublisherOptions;
  /** Disaggregated serving (`--role`); absent = a colocated worker that ignores PD fields. */
  pd?: MockPdOptions;
  /** LoRA adapters served by name in `model` (`--lora-modules`; the engine needs `max_loras`). */
  loraModules?: readonly MockLoraModule[];
}

export interface MockWorker {
  readonly url: string;
  readonly port: number;
  readonly realtime: RealtimeEngine;
  readonly metrics: MockMetrics;
  /** The KV event publisher, with `kvEvents`. */
  readonly kvEvents?: KvEventPublisher;
  readonly pd?: MockPd;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`, 'BadRequestError'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) return;
  sendJson(res, err.status, err.body());
}

/**
 * An OpenAI-compatible server whose timing comes from the simulator's engine model run in real
 * time (see `RealtimeEngine`): tokens are streamed when the simulated engine produces them, with
 * batching, chunked prefill, the prefix cache and preemption all applying.
 */
export async function startMockWorker(o: MockWorkerOptions): Promise<MockWorker> {
  const d = o.deployment;
  const served = o.servedModelName ?? d.model.hf_name;
  const aliases = new Set([served, d.model.id, d.model.hf_name]);
  const realtime = new RealtimeEngine(d, o.speedup);
  const kvEvents = o.kvEvents ? await startKvEventPublisher(realtime.engine, o.kvEvents) : undefined;
  const metrics = new MockMetrics(o.metricsStyle);
  const lora = o.loraModules && o.loraModules.length > 0 ? new MockLora(o.loraModules, served) : undefined;
  if (lora) metrics.lora = lora;
  const pd = o.pd ? new MockPd(o.pd, d, realtime) : undefined;
  const rng: Rng = createRng(`${o.seed}/mock-faults`);
  const started = performance.now();
  const maxModelLen = Math.min(d.model.max_position_embeddings, d.engine.numGpuBlocks * d.engine.blockSize);
  const created = Math.floor(Date.now() / 1e3);
  let received = 0;
  let nextId = 1;
  const open = new Set<ServerResponse>();

  const loading = (): boolean => performance.now() - started < o.faults.slowStartMs;
  const crash =
    o.crash ??
    ((): void => {
      realtime.close();
      server.closeAllConnections();
      server.close();
    });

  async function completion(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    received++;
    if (o.faults.crashAfter > 0 && received > o.faults.crashAfter) {
      crash();
      return;
    }
    const raw = await readBody(req);
    if (loading()) throw new ApiError(503, 'the model is still loading (--slow-start-ms)', 'ServiceUnavailableError');
    if (o.faults.errorRate > 0 && rng.next() < o.faults.errorRate) {
      metrics.errors++;
      throw new ApiError(500, 'injected fault (--error-rate)', 'InternalServerError');
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      throw badRequest(`the request body is not valid JSON (${(err as Error).message})`);
    }
    const call = parseCompletionCall(endpoint, body);
    const pdCall = pd ? pd.classify(raw, body as Record<string, unknown>) : PLAIN;
    const adapter = call.model !== undefined && lora?.has(call.model) ? call.model : undefined;
    if (call.model !== undefined && adapter === undefined && !aliases.has(call.model)) {
      throw new ApiError(404, `The model \`${call.model}\` does not exist.`, 'NotFoundError', 'model');
    }
    const ids = promptIds(call, o.tokenizer ?? 'fast');
    if (ids.length === 0) throw badRequest('the prompt is empty', endpoint === 'chat' ? 'messages' : 'prompt');
    // A prefill worker computes the prompt and one token, whatever the client asked for.
    const maxTokens = isPrefillCall(pdCall) ? 1 : call.maxTokens ?? o.defaultMaxTokens;
    if (ids.length + maxTokens > maxModelLen) {
      throw badRequest(
        `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${ids.length + maxTokens} tokens (${ids.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        'max_tokens',
      );
    }
    const id = `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-mock${nextId++}`;
    const r: Request = { id, arrivalS: realtime.now(), inputTokens: ids.length, outputTokens: maxTokens, prefix: { kind: 'tokens', ids }, ...(adapter !== undefined ? { adapter } : {}) };
    if (!realtime.engine.fits(r)) throw badRequest(`prompt + completion (${ids.length + maxTokens} tokens) do not fit in the KV cache (${maxModelLen} tokens)`, 'max_tokens');
    if (pd) {
      await pd.receive(pdCall, r);
      if (res.destroyed) return;
      pd.prefillStarted(pdCall);
    }
    metrics.requestsTotal++;
    // vLLM answers with the adapter's name when the request named one.
    serve(call, r, new ResponseShapes(endpoint, id, created, adapter ?? served), res, pdCall);
  }

  function serve(call: CompletionCall, r: Request, shapes: ResponseShapes, res: ServerResponse, pdCall: PdCall): void {
    const stall = o.faults.stallMs > 0 && rng.next() < o.faults.stallProb;
    let text = '';
    let lastT = NaN;
    let finished = false;
    // eslint-disable-next-line prefer-const -- the close handler below reads it before submit() returns
    let seq: Sequence | undefined;
    // While stalled, chunks queue here and are written when the stall ends.
    let held: string[] | null = null;
    const write = (obj: object | string): void => {
      const line = `data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`;
      if (held) held.push(line);
      else res.write(line);
    };
    if (call.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.flushHeaders();
    }
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      if (!finished && seq) {
        finished = true;
        metrics.success.abort++;
        realtime.abort(seq);
        pd?.prefillAborted(pdCall);
      }
    });
    seq = realtime.submit(r, {
      token: (k, t) => {
        const piece = fillerToken(k);
        metrics.generationTokens++;
        if (k === 1) {
          metrics.ttft.observe(t - (seq as Sequence).enqueuedAt);
          metrics.promptTokens += r.inputTokens;
        } else metrics.itl.observe(t - lastT);
        lastT = t;
        if (!call.stream) {
          text += piece;
          return;
        }
        const chunk = shapes.tokenChunkJson(piece, k === r.outputTokens ? 'length' : null);
        // The role chunk goes out with the first token in one write (one segment on the wire).
        if (k === 1 && shapes.endpoint === 'chat') write(`${JSON.stringify(shapes.roleChunk())}\n\ndata: ${chunk}`);
        else write(chunk);
        if (k === 1 && stall) {
          held = [];
          setTimeout(() => {
            const lines = held ?? [];
            held = null;
            if (!res.destroyed) for (const l of lines) res.write(l);
            if (finished && !res.destroyed) res.end();
          }, o.faults.stallMs);
        }
      },
      finished: (s, t) => {
        if (finished) return;
        finished = true;
        metrics.e2e.observe(t - s.enqueuedAt);
        metrics.success.length++;
        const u = usage(r.inputTokens, s.numOutput, s.cachedTokens);
        const pdFields = pd?.prefillFinished(pdCall, r);
        if (!call.stream) {
          const full = JSON.stringify(pdFields ? { ...shapes.full(text, 'length', u), ...pdFields } : shapes.full(text, 'length', u));
          if (stall) setTimeout(() => sendJson(res, 200, full), o.faults.stallMs);
          else sendJson(res, 200, full);
          return;
        }
        if (call.includeUsage) write(shapes.usageChunk(u));
        write('[DONE]');
        if (!held) res.end();
      },
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const route = (m: string, p: string): boolean => path === p && (method === m || (m === 'GET' && method === 'HEAD'));
    try {
      if (pd?.handle(req, res, path, method)) return;
      if (route('GET', '/health')) {
        res.writeHead(loading() ? 503 : 200, { 'content-length': 0 });
        res.end();
      } else if (route('GET', '/metrics')) {
        realtime.sync();
        const text = metricsPage(d, served, realtime.engine.snapshot(), metrics);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      } else if (route('GET', '/v1/models')) {
        sendJson(res, 200, JSON.stringify({
          object: 'list',
          data: [{ id: served, object: 'model', created, owned_by: 'vllm', root: d.model.hf_name, parent: null, max_model_len: maxModelLen, permission: [] }, ...(lora ? lora.modelCards(created) : [])],
        }));
      } else if (route('POST', '/v1/chat/completions')) {
        await completion('chat', req, res);
      } else if (route('POST', '/v1/completions')) {
        await completion('completion', req, res);
      } else if (['/health', '/metrics', '/v1/models', '/v1/chat/completions', '/v1/completions'].includes(path)) {
        throw new ApiError(405, `method ${method} not allowed on ${path}`, 'MethodNotAllowed');
      } else {
        throw new ApiError(404, `no route ${path}`, 'NotFoundError');
      }
    } catch (err) {
      if (err instanceof ApiError) sendError(res, err);
      else sendError(res, new ApiError(500, (err as Error).message, 'InternalServerError'));
    }
  }

  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  pd?.bind(o.host, port);
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    port,
    realtime,
    metrics,
    kvEvents,
    pd,
    close: () =>
      new Promise<void>((resolve) => {
        realtime.close();
        pd?.close();
        for (const r of open) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }).then(() => kvEvents?.close()),
  };
}
