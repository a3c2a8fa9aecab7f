import type { IncomingHttpHeaders } from 'node:http';
import type { Decision, Policy, WorkerView } from '../routing/types.js';
import type { RouteRequest } from '../workload/request.js';

/**
 * OpenTelemetry tracing of serve's request lifecycle, behind a small hook interface so the
 * lifecycle code does not know the SDK. Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; off costs a call to an empty method per hook and
 * the SDK is never loaded. Spans of one request (tracing-otel.ts):
 *
 *   router.request (server; child of the client's traceparent, if any)
 *   ├── router.queue      submitted to the Router → dispatched (one per routing, retries included)
 *   ├── router.route      the policy's decision: router.policy, router.branch, router.score, ...
 *   └── router.upstream   one per attempt (client); its context goes to the worker as traceparent
 *       ├── router.first_byte   attempt sent → first body byte
 *       └── router.stream       first byte → end of the response
 */
export interface Tracing {
  readonly enabled: boolean;
  /** A request arrived; `id` is the Router's request id (decisions are matched to it). */
  request(id: string, method: string, path: string, headers: IncomingHttpHeaders): RequestTrace;
  /** Wraps the policy so each decision lands on its request's trace (identity when off). */
  observePolicy(policy: Policy): Policy;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface RequestTrace {
  /** Handed to the Router (first time or a retry): a queue wait begins. */
  submitted(): void;
  /** A worker was chosen and the attempt starts: the queue wait ends. */
  dispatched(worker: string): void;
  /** One upstream attempt; its headers carry the trace context to the worker. */
  attempt(worker: { name: string; url: string }, n: number): AttemptTrace;
  /** The request is over (answered, failed, or the client left). */
  end(o: { status: number; error?: string; attempts: number; stream: boolean; inputTokens?: number; outputTokens?: number }): void;
}

export interface AttemptTrace {
  /** Extra upstream request headers (traceparent, tracestate); empty when off. */
  readonly headers: Readonly<Record<string, string>>;
  firstByte(): void;
  end(o: { status?: number; error?: string; outputTokens?: number }): void;
}

/** A routing decision as the trace records it. */
export interface TracedDecision {
  policy: string;
  worker: string;
  branch?: string;
  /** The winning score, when the policy reports one. */
  score?: number;
  candidates: number;
  /** Wall time in the policy (ms). */
  startMs: number;
  endMs: number;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const noop = (): void => undefined;
export const NO_ATTEMPT: AttemptTrace = Object.freeze({ headers: NO_HEADERS, firstByte: noop, end: noop });
export const NO_REQUEST: RequestTrace = Object.freeze({ submitted: noop, dispatched: noop, attempt: () => NO_ATTEMPT, end: noop });

export const TRACING_OFF: Tracing = Object.freeze({
  enabled: false,
  request: () => NO_REQUEST,
  observePolicy: (p: Policy) => p,
  shutdown: () => Promise.resolve(),
});

/**
 * A policy that reports every decision to `seen` and is otherwise the policy itself (a Proxy,
 * so hooks the policy interface gains later pass through untouched).
 */
export function decisionObserver(inner: Policy, seen: (req: RouteRequest, d: Decision, candidates: readonly WorkerView[], startMs: number) => void): Policy {
  const pick: Policy['pick'] = (req, candidates, ctx) => {
    const t0 = performance.now();
    const d = inner.pick(req, candidates, ctx);
    if (d) seen(req, d, candidates, t0);
    return d;
  };
  const next: Policy['next'] = inner.next
    ? (queue, candidates, ctx) => {
        const t0 = performance.now();
        const d = inner.next?.(queue, candidates, ctx) ?? null;
        if (d && !('reject' in d)) seen(d.entry.req, d.decision, candidates, t0);
        return d;
      }
    : undefined;
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'pick') return pick;
      if (prop === 'next') return next;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
