import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { UpstreamRequest } from './upstream/h1-pool.js';
import type { Request } from '../workload/request.js';
import type { Outcome } from '../routing/types.js';
import { HttpError, sendError, sseErrorTail } from './openai-error.js';
import { isRetryableStatus } from './backoff.js';
import type { ServeWorker } from './worker.js';
import { UpstreamAttempt, type AttemptOwner } from './upstream-attempt.js';
import { SseUsageCounter } from './sse-usage.js';
import { NO_ATTEMPT, NO_REQUEST, type AttemptTrace, type RequestTrace } from './tracing.js';

/**
 * Where a request is. Load on a worker is held by the Router exactly in `dispatched`,
 * `upstream` and `streaming` (inference routes only), so "is load held" is a phase question.
 * - routing: submitted to the Router (or the pass-through picker), no worker yet (pull-mode queue)
 * - dispatched: a worker was chosen; the attempt starts on the next microtask
 * - upstream: an attempt is in flight and nothing has reached the client (retry still possible)
 * - streaming: the response head went to the client; no retry from here on
 * - backoff: an attempt failed before the first byte; waiting to route again
 * - done: answered (or the client left); bookkeeping ran once
 */
export type Phase = 'routing' | 'dispatched' | 'upstream' | 'streaming' | 'backoff' | 'done';

/** Why a request ended (one per request; the log's `error` adds detail). */
export type EndReason =
  | 'completed'
  | 'upstream_status'
  | 'rejected'
  | 'unreachable'
  | 'upstream_timeout'
  | 'midstream'
  | 'timeout'
  | 'client_abort'
  | 'shutdown';

/** Reasons serve itself cuts a request short (they win over whatever the upstream does next). */
export type StopReason = 'client_abort' | 'timeout' | 'shutdown';

export type RouteKind = 'inference' | 'passthrough';

/** What a request needs from the server that runs it. */
export interface LifecycleHost {
  readonly draining: boolean;
  /** `x-router-worker` on responses (off by default: it names internal hosts). */
  readonly workerHeader: boolean;
  readonly maxAttempts: number;
  /** Streams only: longest wait for the first body byte of an attempt before trying another worker. */
  readonly firstByteTimeoutMs: number;
  nowS(): number;
  retryDelayMs(retry: number): number;
  /** Routes the request (again): through the Router for inference, the pass-through picker otherwise. */
  route(lc: RequestLifecycle): void;
  /** The Router's load for this request is released (once per dispatch). */
  release(lc: RequestLifecycle, outcome: Outcome, firstTokenSeen: boolean): void;
  onFirstByte(lc: RequestLifecycle): void;
  /** The response head is about to be written (hooks may add headers). */
  onResponseHead(lc: RequestLifecycle, headers: IncomingHttpHeaders): void;
  onRetry(lc: RequestLifecycle, failed: ServeWorker, why: string): void;
  onFinish(lc: RequestLifecycle): void;
}

function classify(err: unknown): 'timeout' | 'connect' | 'upstream_io' {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || err === FIRST_BYTE_TIMEOUT || err === STALLED) return 'timeout';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') return 'connect';
  return 'upstream_io';
}

const FIRST_BYTE_TIMEOUT = new Error('no first byte from the worker in time');
const STALLED = new Error('worker stalled: no byte while other workers answered');
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/**
 * One client request through serve: routed, sent upstream, retried on another worker while
 * nothing has reached the client, then streamed back byte for byte. Response headers are held
 * until the first body byte, so a worker dying between its headers and its first token has not
 * "started" and the request is retried elsewhere.
 */
export class RequestLifecycle implements AttemptOwner {
  phase: Phase = 'routing';
  /** Set when serve decided to cut the request short; the end follows once the upstream stops. */
  stop?: StopReason;
  end?: EndReason;
  /** Detail for the log (`connect`, `upstream_status_503`, `rejected: ...`). */
  error?: string;
  status = 0;
  attempts = 0;
  worker?: ServeWorker;
  firstByteS?: number;
  dispatchS?: number;
  endS?: number;
  outputTokens?: number;
  readonly usage = new SseUsageCounter();
  /** Its place in the worker's set of attempts in flight (ServeWorker.active), -1 when none. */
  slot = -1;
  /** Tracing hooks (no-ops unless OTEL_EXPORTER_OTLP_ENDPOINT is set). */
  trace: RequestTrace = NO_REQUEST;
  private attemptTrace: AttemptTrace = NO_ATTEMPT;
  private attempt?: UpstreamAttempt;
  private pairAbort?: Error;
  /** The retry backoff's timer (the deadlines below have none: the host sweeps them, see checkDeadlines). */
  private timer?: NodeJS.Timeout;
  private readonly onResClose = (): void => {
    if (!this.res.writableFinished && this.phase !== 'done') this.stopWith('client_abort');
  };
  /** Timer callback of retries only, made when first needed. */
  private retryNow?: () => void;
  /** When the request times out, and when the attempt in flight must have sent its first byte (clock ms). */
  private readonly timeoutAtMs: number;
  private firstByteAtMs = Infinity;

  constructor(
    readonly host: LifecycleHost,
    readonly res: ServerResponse,
    readonly route: RouteKind,
    readonly method: string,
    readonly path: string,
    readonly upstreamHeaders: Record<string, string>,
    readonly body: Buffer | undefined,
    readonly request: Request,
    readonly stream: boolean,
    readonly arrivalS: number,
    timeoutMs: number,
  ) {
    res.on('close', this.onResClose);
    this.timeoutAtMs = arrivalS * 1000 + timeoutMs;
  }

  /** Whether checkDeadlines would end something at `nowMs` (a sweep's test: two comparisons). */
  overdue(nowMs: number): boolean {
    return nowMs >= this.timeoutAtMs || nowMs >= this.firstByteAtMs;
  }

  /**
   * Ends what is overdue at `nowMs` (clock ms): the request past its deadline, or an attempt with
   * no first byte in time (retried elsewhere while nothing was sent). The host calls this for
   * every live request every few milliseconds to a second, instead of each request arming and
   * clearing timers of its own: a timer per request is an object and a linked-list entry that
   * scavenges have to copy while it lives, where a comparison per sweep costs nothing.
   */
  checkDeadlines(nowMs: number): void {
    if (this.phase === 'done') return;
    if (nowMs >= this.timeoutAtMs) this.stopWith('timeout');
    else if (nowMs >= this.firstByteAtMs && this.phase === 'upstream' && this.attempt) {
      this.firstByteAtMs = Infinity;
      this.attempt.abortWith(FIRST_BYTE_TIMEOUT);
    }
  }

  get id(): string {
    return this.request.id;
  }

  get headSent(): boolean {
    return this.phase === 'streaming' || (this.phase === 'done' && this.firstByteS !== undefined);
  }

  /** Router load is held in these phases (inference only). */
  private get holdsLoad(): boolean {
    return this.route === 'inference' && (this.phase === 'dispatched' || this.phase === 'upstream' || this.phase === 'streaming');
  }

  private deadlineMs(): number {
    return Math.max(0, this.timeoutAtMs - this.host.nowS() * 1000);
  }

  /** Serve cuts the request: the client left, the deadline passed, or shutdown. */
  stopWith(reason: StopReason): void {
    if (this.phase === 'done') return;
    this.stop ??= reason;
    if (this.attempt) {
      // Its handler ends the request once undici has stopped.
      this.attempt.abort();
      return;
    }
    if (reason === 'client_abort') this.finish('client_abort');
    else if (reason === 'timeout') this.fail(new HttpError(504, 'request timed out before a worker could answer', 'timeout'), 'timeout');
    else this.fail(new HttpError(503, 'server is shutting down', 'shutting_down'), 'shutdown');
  }

  /** The Router (or the pass-through picker) turned the request away. */
  rejected(e: HttpError): void {
    this.error = `rejected: ${e.message}`;
    this.fail(e, 'rejected');
  }

  /** The Router placed the request on `w` (its load is now held); the attempt starts soon. */
  dispatched(): void {
    if (this.phase === 'routing') this.phase = 'dispatched';
  }

  /**
   * Starts an attempt on `w` (the dispatch is deferred: the Router may dispatch from inside
   * onComplete). `body` replaces the client's body for this attempt (disaggregated decode).
   */
  start(w: ServeWorker, body?: Buffer): void {
    if (this.phase !== 'dispatched') {
      // Ended while the dispatch was on its way (client left, timeout): the load was released by finish.
      return;
    }
    this.phase = 'upstream';
    this.attempts++;
    this.worker = w;
    this.dispatchS ??= this.host.nowS();
    this.trace.dispatched(w.name);
    this.usage.reset();
    const attempt = new UpstreamAttempt(this);
    this.attempt = attempt;
    w.attemptStarted(this);
    if (this.stream && this.host.firstByteTimeoutMs > 0) this.firstByteAtMs = this.host.nowS() * 1000 + this.host.firstByteTimeoutMs;
    // Tracing off (the usual case): no span arguments built per attempt and per request.
    const at = (this.attemptTrace = this.trace === NO_REQUEST ? NO_ATTEMPT : this.trace.attempt({ name: w.name, url: w.spec.url }, this.attempts));
    const base = at === NO_ATTEMPT ? this.upstreamHeaders : { ...this.upstreamHeaders, ...at.headers };
    const opts: UpstreamRequest = {
      method: this.method,
      path: w.basePath + this.path,
      headers: w.spec.apiKey ? { ...base, authorization: `Bearer ${w.spec.apiKey}` } : base,
      body: body ?? this.body,
    };
    w.dispatch(opts, attempt);
  }

  /** The worker was found stalled: cut this attempt (retried elsewhere when nothing was sent yet). */
  abortStalled(): void {
    this.attempt?.abortWith(STALLED);
  }

  /** Disaggregated: this attempt's prefill partner failed; retry without blaming the decode worker. */
  abortPair(reason: Error): void {
    this.pairAbort = reason;
    this.attempt?.abortWith(reason);
  }

  /** Disaggregated: ends a request still waiting for its prefill (no prefill worker answered). */
  failDispatched(e: HttpError, reason: EndReason): void {
    this.error = e.message;
    this.fail(e, reason);
  }

  // ---- AttemptOwner --------------------------------------------------------------------------

  accept(status: number): boolean {
    this.worker?.progress();
    if (isRetryableStatus(status) && this.canRetry()) return false;
    this.status = status;
    return true;
  }

  observe(chunk: Buffer, isSse: boolean): void {
    this.usage.observe(chunk, isSse);
  }

  sendHead(status: number, headers: IncomingHttpHeaders): void {
    const out: IncomingHttpHeaders = {};
    for (const k in headers) if (!HOP_BY_HOP.has(k)) out[k] = headers[k];
    if (this.host.draining) out.connection = 'close';
    if (this.host.workerHeader && this.worker) out['x-router-worker'] = this.worker.name;
    this.host.onResponseHead(this, out);
    this.res.writeHead(status, out);
    this.phase = 'streaming';
    this.attemptTrace.firstByte();
    this.clearFirstByteDeadline();
    const now = this.host.nowS();
    this.firstByteS = now;
    this.worker?.progress(now);
    this.host.onFirstByte(this);
  }

  attemptEnded(a: UpstreamAttempt, how: 'end' | 'discarded' | 'error', err?: Error): void {
    if (a !== this.attempt) return;
    this.attempt = undefined;
    this.clearFirstByteDeadline();
    const w = this.worker;
    if (!w) return;
    w.attemptEnded(this);
    const at = this.attemptTrace;
    this.attemptTrace = NO_ATTEMPT;
    if (at !== NO_ATTEMPT) this.endAttemptTrace(at, a, how, err);
    if (how === 'end') this.completed(w, a.status);
    else if (how === 'discarded') this.failedBeforeFirstByte(w, `upstream_status_${a.status}`);
    else if (this.phase === 'streaming') this.midstream(w, err ?? new Error('upstream failed'), a.isSse);
    else this.failedBeforeFirstByte(w, this.stop ? 'aborted' : err !== undefined && err === this.pairAbort ? 'prefill_failed' : classify(err));
  }

  private endAttemptTrace(at: AttemptTrace, a: UpstreamAttempt, how: 'end' | 'discarded' | 'error', err?: Error): void {
    if (how === 'end') at.end({ status: a.status, error: a.status < 400 ? undefined : `upstream_status_${a.status}`, outputTokens: this.usage.outputTokens() });
    else if (how === 'discarded') at.end({ status: a.status, error: `upstream_status_${a.status}` });
    else at.end({ status: this.phase === 'streaming' ? this.status : undefined, error: this.stop ?? (this.phase === 'streaming' ? 'midstream' : classify(err)) });
  }

  // ---- endings -------------------------------------------------------------------------------

  private clearFirstByteDeadline(): void {
    this.firstByteAtMs = Infinity;
  }

  private release(outcome: Outcome, firstTokenSeen: boolean): void {
    if (this.holdsLoad) this.host.release(this, outcome, firstTokenSeen);
  }

  private completed(w: ServeWorker, status: number): void {
    if (status >= 500 || status === 429) w.breaker.failure();
    else w.breaker.success();
    const now = this.host.nowS();
    w.progress(now);
    w.refresh();
    const ok = status < 400;
    if (!ok) this.error ??= `upstream_status_${status}`;
    this.outputTokens = this.usage.outputTokens();
    this.endS = now;
    const ttftS = this.firstByteS !== undefined && this.dispatchS !== undefined ? this.firstByteS - this.dispatchS : undefined;
    this.release({ ok, outputTokens: this.outputTokens ?? 0, ttftS, e2eS: this.dispatchS !== undefined ? this.endS - this.dispatchS : undefined }, true);
    this.finish(ok ? 'completed' : 'upstream_status');
  }

  /** The upstream failed after bytes reached the client: no retry; end the stream cleanly or cut the body. */
  private midstream(w: ServeWorker, err: Error, isSse: boolean): void {
    const reason: EndReason = this.stop ?? 'midstream';
    this.error ??= reason;
    if (reason === 'midstream') w.breaker.failure();
    else w.breaker.neutral();
    w.refresh();
    this.outputTokens = this.usage.outputTokens();
    this.release({ ok: false, outputTokens: this.outputTokens ?? 0 }, true);
    if (reason !== 'client_abort') {
      if (isSse) {
        const [msg, code] =
          reason === 'timeout' ? ['request timed out', 'timeout'] : reason === 'shutdown' ? ['server is shutting down', 'shutting_down'] : [`upstream ${w.name} failed mid-stream: ${err.message}`, 'midstream'];
        this.res.end(sseErrorTail(msg, code));
      } else {
        this.res.destroy();
      }
    }
    this.finish(reason);
  }

  private canRetry(): boolean {
    return this.attempts < this.host.maxAttempts && this.stop === undefined;
  }

  /** Nothing reached the client: release the worker, maybe retry elsewhere, else answer. */
  private failedBeforeFirstByte(w: ServeWorker, why: string): void {
    if (why === 'aborted' || why === 'prefill_failed') w.breaker.neutral();
    else w.breaker.failure();
    w.refresh();
    this.release({ ok: false, outputTokens: 0 }, false);
    if (why === 'aborted') {
      this.phase = 'backoff';
      this.stopWith(this.stop ?? 'shutdown');
      return;
    }
    this.error = why;
    if (this.canRetry()) {
      this.host.onRetry(this, w, why);
      this.phase = 'backoff';
      this.retryNow ??= (): void => {
        this.timer = undefined;
        if (this.phase !== 'backoff') return;
        if (this.deadlineMs() <= 0) {
          this.stopWith('timeout');
          return;
        }
        this.phase = 'routing';
        this.host.route(this);
      };
      this.timer = setTimeout(this.retryNow, Math.min(this.host.retryDelayMs(this.attempts - 1), this.deadlineMs()));
      return;
    }
    this.phase = 'backoff';
    if (why === 'timeout') this.fail(new HttpError(504, `upstream ${w.name} timed out after ${this.attempts} attempt(s)`, 'upstream_timeout'), 'upstream_timeout');
    else this.fail(new HttpError(502, `upstream ${w.name} unreachable after ${this.attempts} attempt(s) (${why})`, 'upstream_unreachable'), 'unreachable');
  }

  /** Answers with a router error (if nothing was sent yet) and ends the request. */
  private fail(e: HttpError, reason: EndReason): void {
    if (this.phase === 'done') return;
    if (this.stop !== 'client_abort') {
      if (!this.headSent) this.status = e.status;
      sendError(this.res, e);
    }
    this.finish(reason);
  }

  /** Ends the request exactly once: timers cleared, load released, bookkeeping run. */
  private finish(reason: EndReason): void {
    if (this.phase === 'done') return;
    this.release({ ok: false, outputTokens: 0 }, this.firstByteS !== undefined);
    this.phase = 'done';
    this.end = reason;
    if (reason === 'client_abort') this.error ??= 'client_abort';
    else if (reason === 'timeout' || reason === 'shutdown') this.error ??= reason;
    this.endS ??= this.host.nowS();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.clearFirstByteDeadline();
    this.res.off('close', this.onResClose);
    if (this.trace !== NO_REQUEST) this.trace.end({ status: reason === 'client_abort' ? 499 : this.status, error: this.error, attempts: this.attempts, stream: this.stream, inputTokens: this.route === 'inference' ? this.request.inputTokens : undefined, outputTokens: this.outputTokens });
    this.host.onFinish(this);
  }
}
