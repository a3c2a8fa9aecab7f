import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Request } from '../workload/request.js';
import type { Outcome } from '../routing/types.js';
import { HttpError, sendError, sseErrorTail } from './openai-error.js';
import { isRetryableStatus } from './backoff.js';
import type { ServeWorker } from './worker.js';
import { NO_ATTEMPT, NO_REQUEST, type AttemptTrace, type RequestTrace } from './tracing.js';

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
const TAIL = 4096;

function classify(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') return 'connect';
  return 'upstream_io';
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
  headersSent = false;
  /** Tracing hooks (no-ops unless OTEL_EXPORTER_OTLP_ENDPOINT is set). */
  trace: RequestTrace = NO_REQUEST;
  private attemptTrace: AttemptTrace = NO_ATTEMPT;
  private attempt?: Attempt;
  private backoffTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private sseEvents = 0;
  private sawDone = false;
  /** The last chunks (≥ TAIL bytes in all), where a usage object would be; decoded only at the end. */
  private tail: Buffer[] = [];
  private tailBytes = 0;

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
    if (this.attempt) this.attempt.abort();
    else this.finish();
  }

  private requestTimedOut(): void {
    this.timeoutTimer = undefined;
    if (this.done) return;
    this.timedOut = true;
    this.error = 'timeout';
    if (this.attempt) {
      this.attempt.abort();
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
    this.trace.dispatched(w.name);
    this.dispatchS ??= this.host.nowS();
    w.breaker.onSend();
    w.refresh();
    this.send(w);
  }

  private releaseLoad(outcome: Outcome, firstTokenSeen: boolean): void {
    if (!this.placed) return;
    this.placed = false;
    this.host.release(this, outcome, firstTokenSeen);
  }

  /**
   * One upstream attempt through undici's dispatch API: chunks go straight from the upstream
   * parser to the client socket, backpressure pauses the upstream, with no intermediate stream.
   */
  private send(w: ServeWorker): void {
    const attempt = new Attempt(this, w);
    this.attempt = attempt;
    const at = (this.attemptTrace = this.trace.attempt({ name: w.name, url: w.spec.url }, this.attempts));
    const base = at === NO_ATTEMPT ? this.upstreamHeaders : { ...this.upstreamHeaders, ...at.headers };
    w.pool.dispatch(
      {
        method: this.method,
        path: w.basePath + this.path,
        headers: w.spec.apiKey ? { ...base, authorization: `Bearer ${w.spec.apiKey}` } : base,
        body: this.body,
      },
      attempt,
    );
  }

  /** Called by the attempt when the upstream answered with headers; returns false to discard. */
  accept(status: number): boolean {
    if (isRetryableStatus(status) && this.canRetry()) return false;
    this.status = status;
    return true;
  }

  /** Sends the held response headers (with the first body bytes). */
  sendHead(status: number, headers: IncomingHttpHeaders): void {
    const out = responseHeaders(headers, this.host.draining);
    // Names the worker that answered, so `router replay` (and operators) can attribute requests.
    if (this.worker) out['x-router-worker'] = this.worker.name;
    this.res.writeHead(status, out);
    this.headersSent = true;
    this.attemptTrace.firstByte();
    this.firstByteS = this.host.nowS();
    this.host.onFirstToken(this);
  }

  /** The attempt failed before anything reached the client. */
  attemptError(w: ServeWorker, err: Error | undefined, status?: number): void {
    this.attempt = undefined;
    if (status !== undefined) this.status = status;
    const why = status !== undefined ? `upstream_status_${status}` : this.clientGone || this.timedOut ? 'aborted' : classify(err);
    this.attemptTrace.end({ status, error: why });
    this.attemptFailed(w, why, false);
  }

  /** The upstream failed after bytes reached the client: no retry; end the stream cleanly or cut the body. */
  midstreamError(w: ServeWorker, err: Error, isSse: boolean): void {
    this.attempt = undefined;
    const why = this.clientGone ? 'client_abort' : this.timedOut ? 'timeout' : 'midstream';
    this.attemptTrace.end({ status: this.status, error: why, outputTokens: this.countedTokens() });
    this.error ??= why;
    if (why === 'midstream') w.breaker.failure();
    else w.breaker.neutral();
    w.refresh();
    this.releaseLoad({ ok: false, outputTokens: this.countedTokens() ?? 0 }, true);
    if (!this.clientGone) {
      if (isSse) {
        const msg = this.timedOut ? 'request timed out' : `upstream ${w.name} failed mid-stream: ${err.message}`;
        this.res.end(sseErrorTail(msg, why));
      } else {
        this.res.destroy();
      }
    }
    this.finish();
  }

  /** The upstream response is complete and forwarded. */
  completed(w: ServeWorker, status: number): void {
    this.attempt = undefined;
    const ok = status < 400;
    if (status >= 500 || status === 429) w.breaker.failure();
    else w.breaker.success();
    w.refresh();
    if (!ok) this.error ??= `upstream_status_${status}`;
    this.outputTokens = this.countedTokens();
    this.attemptTrace.end({ status, error: ok ? undefined : `upstream_status_${status}`, outputTokens: this.outputTokens });
    this.endS = this.host.nowS();
    const ttftS = this.firstByteS !== undefined && this.dispatchS !== undefined ? this.firstByteS - this.dispatchS : undefined;
    this.releaseLoad({ ok, outputTokens: this.outputTokens ?? 0, ttftS, e2eS: this.dispatchS !== undefined ? this.endS - this.dispatchS : undefined }, true);
    this.finish();
  }

  /** Counts SSE events and keeps the tail where a usage object would be. */
  observe(chunk: Buffer, isSse: boolean): void {
    if (isSse) {
      let i = chunk.indexOf(DATA);
      while (i >= 0) {
        this.sseEvents++;
        if (chunk.compare(DONE, 0, DONE.length, i, i + DONE.length) === 0) this.sawDone = true;
        i = chunk.indexOf(DATA, i + DATA.length);
      }
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= TAIL) this.tailBytes -= this.tail.shift()?.length ?? 0;
  }

  /** Output tokens: the usage the engine reported, else one per SSE content event. */
  private countedTokens(): number | undefined {
    const buf = this.tail.length === 1 ? this.tail[0] : Buffer.concat(this.tail);
    const text = buf.subarray(Math.max(0, buf.length - TAIL)).toString('latin1');
    let last: string | undefined;
    for (const m of text.matchAll(USAGE)) last = m[1];
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
    this.trace.end({ status: this.status || (this.clientGone ? 499 : 0), error: this.error, attempts: this.attempts, stream: this.stream, inputTokens: this.route === 'inference' ? this.request.inputTokens : undefined, outputTokens: this.outputTokens });
    this.host.onFinish(this);
  }

  /** Shutdown deadline passed: stop the upstream and end what the client has. */
  forceEnd(): void {
    if (this.done) return;
    this.error ??= 'shutdown';
    this.timedOut = true;
    if (this.attempt) this.attempt.abort();
    else this.fail(new HttpError(503, 'server is shutting down', 'shutting_down'));
  }
}

const ABORTED = new Error('request aborted by serve');
/** Bodies up to this size are forwarded in one write (headers and body in one syscall). */
const COALESCE_LIMIT = 256 * 1024;

/**
 * One upstream attempt as an undici dispatch handler. Headers are held until the first body
 * byte; JSON bodies of known small size are held whole and written in one go; SSE chunks are
 * written as they come, corked per event-loop turn so chunks parsed together leave together.
 */
class Attempt implements Dispatcher.DispatchHandler {
  private ctl?: Dispatcher.DispatchController;
  private abortWanted = false;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private discard = false;
  private isSse = false;
  private held?: Buffer[];
  private corked = false;
  private waitingDrain = false;

  constructor(
    private readonly job: Job,
    private readonly w: ServeWorker,
  ) {}

  abort(): void {
    this.abortWanted = true;
    this.ctl?.abort(ABORTED);
  }

  onRequestStart(ctl: Dispatcher.DispatchController): void {
    this.ctl = ctl;
    if (this.abortWanted) ctl.abort(ABORTED);
  }

  onResponseStart(_ctl: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return;
    this.status = status;
    if (!this.job.accept(status)) {
      this.discard = true;
      return;
    }
    this.headers = headers;
    this.isSse = (headers['content-type'] ?? '').startsWith('text/event-stream');
    const len = Number(headers['content-length']);
    if (!this.isSse && Number.isFinite(len) && len <= COALESCE_LIMIT) this.held = [];
  }

  onResponseData(ctl: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard) return;
    const job = this.job;
    job.observe(chunk, this.isSse);
    if (this.held) {
      this.held.push(chunk);
      return;
    }
    const res = job.res;
    if (!job.headersSent) job.sendHead(this.status, this.headers);
    if (!this.corked) {
      this.corked = true;
      res.cork();
      process.nextTick(() => {
        this.corked = false;
        res.uncork();
      });
    }
    if (!res.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      ctl.pause();
      res.once('drain', () => {
        this.waitingDrain = false;
        ctl.resume();
      });
    }
  }

  onResponseEnd(): void {
    const job = this.job;
    if (this.discard) {
      job.attemptError(this.w, undefined, this.status);
      return;
    }
    if (this.held) {
      job.sendHead(this.status, this.headers);
      job.res.end(this.held.length === 1 ? this.held[0] : Buffer.concat(this.held));
    } else {
      if (!job.headersSent) job.sendHead(this.status, this.headers);
      job.res.end();
    }
    job.completed(this.w, this.status);
  }

  onResponseError(_ctl: Dispatcher.DispatchController, err: Error): void {
    const job = this.job;
    if (job.done) return;
    if (!job.headersSent) job.attemptError(this.w, err);
    else job.midstreamError(this.w, err, this.isSse);
  }
}
