import type { IncomingHttpHeaders } from 'node:http';
import type { RequestLifecycle } from './lifecycle.js';
import type { ServeWorker } from './worker.js';

/**
 * Seams for code that rides along with serve without editing its request path (tracing,
 * worker discovery, SLO headers). Every hook is optional and synchronous; a hook that throws
 * is a bug in the hook and fails the request it ran for (500), not the server.
 */
export interface ServeHooks {
  /** A request was parsed and is about to be routed; `upstreamHeaders` may be extended (trace context). */
  onRequestStart?(lc: RequestLifecycle): void;
  /** The response head is about to go to the client; `headers` may be extended (SLO headers). */
  onResponseHead?(lc: RequestLifecycle, headers: IncomingHttpHeaders): void;
  /** The request ended, after serve's own bookkeeping; `lc.end` says how. */
  onRequestEnd?(lc: RequestLifecycle): void;
  onWorkerAdded?(w: ServeWorker): void;
  onWorkerRemoved?(w: ServeWorker): void;
}
