import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { UpstreamController, UpstreamHandler } from './upstream/h1-pool.js';

/** What an attempt reports to the request it serves (implemented by RequestLifecycle). */
export interface AttemptOwner {
  /** Upstream answered with `status`; false discards the response (it will be retried). */
  accept(status: number): boolean;
  /** Every upstream body chunk, before it is forwarded. */
  observe(chunk: Buffer, isSse: boolean): void;
  /** Writes the held response head; called right before the first body bytes go out. */
  sendHead(status: number, headers: IncomingHttpHeaders): void;
  readonly headSent: boolean;
  readonly res: ServerResponse;
  /** The attempt is over: `end` (complete), `discarded` (a retryable status), or `error`. */
  attemptEnded(a: UpstreamAttempt, how: 'end' | 'discarded' | 'error', err?: Error): void;
}

const ABORTED = new Error('request aborted by serve');
/** Bodies up to this size are forwarded in one write (headers and body in one syscall). */
const COALESCE_LIMIT = 256 * 1024;

/**
 * One upstream attempt as an undici dispatch handler. Headers are held until the first body
 * byte; JSON bodies of known small size are held whole and written in one go; streamed chunks
 * that undici parses in the same event-loop turn (an engine's SSE events usually arrive several
 * to a read) are joined and written once at the end of the turn: one HTTP chunk and one write
 * instead of one per event, and no event waits longer than the turn it arrived in.
 * A client that cannot keep up pauses the upstream (backpressure).
 */
export class UpstreamAttempt implements UpstreamHandler {
  private ctl?: UpstreamController;
  private abortWanted?: Error;
  status = 0;
  private headers: IncomingHttpHeaders = {};
  private discard = false;
  isSse = false;
  private held?: Buffer[];
  /** Streamed chunks of this turn, not yet written: the first alone, more in `pendingMore`. */
  private pending?: Buffer;
  private pendingMore?: Buffer[];
  private waitingDrain = false;
  /** Callbacks of streamed bodies and of backpressure only, made when first needed. */
  private flushTurn?: () => void;
  private resumeOnDrain?: () => void;

  constructor(private readonly owner: AttemptOwner) {}

  abort(): void {
    this.abortWith(ABORTED);
  }

  /** Aborts with `reason`, which reaches `attemptEnded` as the error. */
  abortWith(reason: Error): void {
    this.abortWanted ??= reason;
    this.ctl?.abort(reason);
  }

  onRequestStart(ctl: UpstreamController): void {
    this.ctl = ctl;
    if (this.abortWanted) ctl.abort(this.abortWanted);
  }

  onResponseStart(_ctl: UpstreamController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return;
    this.status = status;
    if (!this.owner.accept(status)) {
      this.discard = true;
      return;
    }
    this.headers = headers;
    const ct = headers['content-type'];
    this.isSse = typeof ct === 'string' && ct.startsWith('text/event-stream');
    const len = Number(headers['content-length']);
    if (!this.isSse && Number.isFinite(len) && len <= COALESCE_LIMIT) this.held = [];
  }

  onResponseData(_ctl: UpstreamController, chunk: Buffer): void {
    if (this.discard) return;
    const owner = this.owner;
    owner.observe(chunk, this.isSse);
    if (this.held) {
      this.held.push(chunk);
      return;
    }
    if (!owner.headSent) owner.sendHead(this.status, this.headers);
    if (this.pending === undefined) {
      this.pending = chunk;
      process.nextTick((this.flushTurn ??= (): void => this.flush()));
    } else if (this.pendingMore === undefined) {
      this.pendingMore = [this.pending, chunk];
    } else {
      this.pendingMore.push(chunk);
    }
  }

  /** Writes the turn's streamed chunks as one; a full client socket pauses the upstream. */
  private flush(): void {
    const first = this.pending;
    if (first === undefined) return;
    const more = this.pendingMore;
    this.pending = undefined;
    this.pendingMore = undefined;
    const res = this.owner.res;
    if (!res.write(more === undefined ? first : Buffer.concat(more)) && !this.waitingDrain && !res.destroyed) {
      this.waitingDrain = true;
      this.ctl?.pause();
      res.once(
        'drain',
        (this.resumeOnDrain ??= (): void => {
          this.waitingDrain = false;
          this.ctl?.resume();
        }),
      );
    }
  }

  onResponseEnd(): void {
    const owner = this.owner;
    if (this.discard) {
      owner.attemptEnded(this, 'discarded');
      return;
    }
    if (this.held) {
      owner.sendHead(this.status, this.headers);
      owner.res.end(this.held.length === 1 ? this.held[0] : Buffer.concat(this.held));
    } else {
      if (!owner.headSent) owner.sendHead(this.status, this.headers);
      const first = this.pending;
      if (first === undefined) owner.res.end();
      else {
        const more = this.pendingMore;
        this.pending = undefined;
        this.pendingMore = undefined;
        owner.res.end(more === undefined ? first : Buffer.concat(more));
      }
    }
    owner.attemptEnded(this, 'end');
  }

  onResponseError(_ctl: UpstreamController, err: Error): void {
    // What reached serve before the failure goes out first (then the lifecycle ends the stream).
    this.flush();
    this.owner.attemptEnded(this, 'error', err);
  }
}
