import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Request } from '../workload/request.js';
import type { Outcome } from '../routing/types.js';
import { HttpError, sendError, sseErrorTail } from './openai-error.js';
import { isRetryableStatus } from './backoff.js';
import type { ServeWorker } from './worker.js';

/** What a job needs from the server that runs it. */
export interface JobHost {
  readonly draining: boolean;
  nowS(): number;
  maxAttempts: number;
  retryDelayMs(retry: number): number;
  /** Routes the job (again): through the Router for inference, directly for pass-through. */
  route(job: Job): void;
  /** The Router's load for this request is released (once per dispatch). */
  release(job: Job, outcome: Outcome, firstTokenSeen: boolean): void;
  onFirstToken(job: Job): void;
  onRetry(job: Job, failed: ServeWorker, why: string): void;
  onFinish(job: Job): void;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/** Upstream response headers minus hop-by-hop ones (the body is forwarded as is). */
function responseHeaders(h: IncomingHttpHeaders, draining: boolean): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const k in h) if (!HOP_BY_HOP.has(k)) out[k] = h[k];
  if (draining) out.connection = 'close';
  return out;
}

const DATA = Buffer.from('data:');
const DONE = Buffer.from('data: [DONE]');
const USAGE = /"completion_tokens"\s*:\s*(\d+)/g;

function classify(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') return 'connect';
  return 'upstream_io';
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * One client request through serve: routed, sent upstream, retried on another worker while
 * nothing has reached the client, then streamed back byte for byte with backpressure.
 * Response headers are held until the first body byte so that a worker dying between its
 * headers and its first token still counts as "not started" and is retried.
 */
export class Job {
  attempts = 0;
  /** Set while the Router holds load for this request on a worker. */
  placed = false;
  queued = false;
  worker?: ServeWorker;
  status = 0;
  error?: string;
  clientGone = false;
  timedOut = false;
  done = false;
  firstByteS?: number;
  dispatchS?: number;
  endS?: number;
  outputTokens?: number;
  private headersSent = false;
  private ac?: AbortController;
  private backoffTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private sseEvents = 0;
  private sawDone = false;
  private tail = '';

  constructor(
    readonly host: JobHost,
    readonly res: ServerResponse,
    readonly route: string,
    readonly method: string,
    readonly path: string,
    readonly upstreamHeaders: Record<string, string>,
    readonly body: Buffer | undefined,
    readonly request: Request,
    readonly stream: boolean,
    readonly arrivalS: number,
    timeoutMs: number,
  ) {
    res.on('close', () => {
      if (!res.writableFinished && !this.done) this.clientLeft();
    });
    this.timeoutTimer = setTimeout(() => this.requestTimedOut(), timeoutMs);
  }

  get id(): string {
    return this.request.id;
  }

  private clientLeft(): void {
    this.clientGone = true;
    this.error ??= 'client_abort';
    // Upstream in progress: abort it (its handler finishes the job); otherwise finish now.
    if (this.ac) this.ac.abort();
    else this.finish();
  }

  private requestTimedOut(): void {
    this.timeoutTimer = undefined;
    if (this.done) return;
    this.timedOut = true;
    this.error = 'timeout';
    if (this.ac) {
      this.ac.abort();
      return;
    }
    // Still queued in the Router or waiting to retry: answer now; a later dispatch is released at once.
    this.fail(new HttpError(504, 'request timed out before a worker could answer', 'timeout'));
  }

  /** The Router rejected the request (queue full, no healthy worker, ...). */
  rejected(e: HttpError): void {
    this.queued = false;
    this.error = `rejected: ${e.message}`;
    this.fail(e);
  }

  /** Answers with a router error (if nothing was sent yet) and ends the job. */
  fail(e: HttpError): void {
    if (this.done) return;
    if (!this.clientGone) {
      this.status = this.headersSent ? this.status : e.status;
      sendError(this.res, e);
    }
    this.finish();
  }

  /** The Router (or the direct picker) chose `w` for this attempt. */
  start(w: ServeWorker): void {
    this.queued = false;
    if (this.done || this.clientGone || this.timedOut) {
      if (this.placed) this.releaseLoad({ ok: false, outputTokens: 0 }, false);
      if (!this.done) this.finish();
      return;
    }
    this.attempts++;
    this.worker = w;
    this.dispatchS ??= this.host.nowS();
    w.breaker.onSend();
    w.refresh();
    void this.send(w);
  }

  private releaseLoad(outcome: Outcome, firstTokenSeen: boolean): void {
    if (!this.placed) return;
    this.placed = false;
    this.host.release(this, outcome, firstTokenSeen);
  }

  private async send(w: ServeWorker): Promise<void> {
    const ac = new AbortController();
    this.ac = ac;
    let resp: Dispatcher.ResponseData;
    try {
      resp = await w.pool.request({
        method: this.method as Dispatcher.HttpMethod,
        path: w.basePath + this.path,
        headers: w.spec.apiKey ? { ...this.upstreamHeaders, authorization: `Bearer ${w.spec.apiKey}` } : this.upstreamHeaders,
        body: this.body,
        signal: ac.signal,
      });
    } catch (err) {
      this.ac = undefined;
      this.attemptFailed(w, this.clientGone || this.timedOut ? 'aborted' : classify(err), false);
      return;
    }
    const status = resp.statusCode;
    if (isRetryableStatus(status) && this.canRetry()) {
      resp.body.on('error', () => undefined);
      resp.body.destroy();
      this.ac = undefined;
      this.status = status;
      this.attemptFailed(w, `upstream_status_${status}`, false);
      return;
    }
    this.status = status;
    const isSse = String(resp.headers['content-type'] ?? '').startsWith('text/event-stream');
    let firstTokenSeen = false;
    try {
      for await (const chunk of resp.body as AsyncIterable<Buffer>) {
        if (!this.headersSent) {
          this.res.writeHead(status, responseHeaders(resp.headers, this.host.draining));
          this.headersSent = true;
          this.firstByteS = this.host.nowS();
          firstTokenSeen = true;
          this.host.onFirstToken(this);
        }
        this.observe(chunk, isSse);
        if (!this.res.write(chunk)) {
          await waitDrain(this.res);
          if (this.clientGone) throw new Error('client went away');
        }
      }
    } catch (err) {
      this.ac = undefined;
      if (!this.headersSent) {
        this.attemptFailed(w, this.clientGone || this.timedOut ? 'aborted' : classify(err), false);
        return;
      }
      // Bytes already reached the client: no retry. Close the stream cleanly or cut the body.
      const why = this.clientGone ? 'client_abort' : this.timedOut ? 'timeout' : 'midstream';
      this.error ??= why;
      if (this.clientGone) w.breaker.neutral();
      else if (!this.timedOut) w.breaker.failure();
      else w.breaker.neutral();
      w.refresh();
      this.releaseLoad({ ok: false, outputTokens: this.countedTokens() ?? 0 }, firstTokenSeen);
      if (!this.clientGone) {
        if (isSse) {
          const msg = this.timedOut ? 'request timed out' : `upstream ${w.name} failed mid-stream: ${(err as Error).message}`;
          this.res.end(sseErrorTail(msg, why));
        } else {
          this.res.destroy();
        }
      }
      this.finish();
      return;
    }
    this.ac = undefined;
    if (!this.headersSent) {
      this.res.writeHead(status, responseHeaders(resp.headers, this.host.draining));
      this.headersSent = true;
      this.firstByteS = this.host.nowS();
    }
    this.res.end();
    const ok = status < 400;
    if (status >= 500 || status === 429) w.breaker.failure();
    else w.breaker.success();
    w.refresh();
    if (!ok) this.error ??= `upstream_status_${status}`;
    this.outputTokens = this.countedTokens();
    const ttftS = this.firstByteS !== undefined && this.dispatchS !== undefined ? this.firstByteS - this.dispatchS : undefined;
    this.endS = this.host.nowS();
    this.releaseLoad({ ok, outputTokens: this.outputTokens ?? 0, ttftS, e2eS: this.dispatchS !== undefined ? this.endS - this.dispatchS : undefined }, firstTokenSeen);
    this.finish();
  }

  /** Counts SSE events and keeps the tail where a usage object would be. */
  private observe(chunk: Buffer, isSse: boolean): void {
    if (isSse) {
      let i = chunk.indexOf(DATA);
      while (i >= 0) {
        this.sseEvents++;
        if (chunk.compare(DONE, 0, DONE.length, i, i + DONE.length) === 0) this.sawDone = true;
        i = chunk.indexOf(DATA, i + DATA.length);
      }
    }
    const s = chunk.length > 4096 ? chunk.subarray(chunk.length - 4096).toString('latin1') : chunk.toString('latin1');
    this.tail = (this.tail + s).slice(-4096);
  }

  /** Output tokens: the usage the engine reported, else one per SSE content event. */
  private countedTokens(): number | undefined {
    let last: string | undefined;
    for (const m of this.tail.matchAll(USAGE)) last = m[1];
    if (last !== undefined) return Number(last);
    if (this.sseEvents > 0) return Math.max(0, this.sseEvents - (this.sawDone ? 1 : 0));
    return undefined;
  }

  private canRetry(): boolean {
    return this.attempts < this.host.maxAttempts && !this.clientGone && !this.timedOut;
  }

  /** Nothing reached the client: release the worker, maybe retry elsewhere, else answer. */
  private attemptFailed(w: ServeWorker, why: string, firstTokenSeen: boolean): void {
    if (why === 'aborted') w.breaker.neutral();
    else w.breaker.failure();
    w.refresh();
    this.releaseLoad({ ok: false, outputTokens: 0 }, firstTokenSeen);
    if (why === 'aborted') {
      if (this.timedOut && !this.clientGone) this.fail(new HttpError(504, 'request timed out', 'timeout'));
      else this.finish();
      return;
    }
    this.error = why;
    if (this.canRetry()) {
      this.host.onRetry(this, w, why);
      const delay = this.host.retryDelayMs(this.attempts - 1);
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        if (this.done) return;
        if (this.clientGone || this.timedOut) {
          this.finish();
          return;
        }
        this.queued = true;
        this.host.route(this);
      }, delay);
      return;
    }
    if (why === 'timeout') {
      this.fail(new HttpError(504, `upstream ${w.name} timed out after ${this.attempts} attempt(s)`, 'upstream_timeout'));
    } else {
      this.fail(new HttpError(502, `upstream ${w.name} unreachable after ${this.attempts} attempt(s) (${why})`, 'upstream_unreachable'));
    }
  }

  /** Ends the job exactly once: timers cleared, load released, logged. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.endS ??= this.host.nowS();
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.releaseLoad({ ok: false, outputTokens: 0 }, false);
    this.host.onFinish(this);
  }

  /** Shutdown deadline passed: stop the upstream and end what the client has. */
  forceEnd(): void {
    if (this.done) return;
    this.error ??= 'shutdown';
    this.timedOut = true;
    if (this.ac) this.ac.abort();
    else this.fail(new HttpError(503, 'server is shutting down', 'shutting_down'));
  }

  get headersWereSent(): boolean {
    return this.headersSent;
  }
}
