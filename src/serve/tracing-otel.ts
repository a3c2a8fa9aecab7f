import type { IncomingHttpHeaders } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace';
import type { Policy } from '../routing/types.js';
import { decisionObserver, type AttemptTrace, type RequestTrace, type TracedDecision, type Tracing } from './tracing.js';

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => h[k],
};
const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (h, k, v) => {
    h[k] = v;
  },
};

/** OTEL_TRACES_SAMPLER / _ARG, the values the spec names (default parentbased_always_on). */
function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const ratio = Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1;
  switch (env.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = Number(env[name]);
  return env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/**
 * The OpenTelemetry SDK behind the Tracing hooks: OTLP/HTTP (JSON) export in batches, the
 * endpoint, headers and timeout from the standard OTEL_EXPORTER_OTLP_* variables, service name
 * from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (default "router"), W3C trace context.
 */
export class OtelTracing implements Tracing {
  readonly enabled = true;
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly live = new Map<string, OtelRequest>();

  constructor(env: NodeJS.ProcessEnv) {
    const resource = resourceFromAttributes({ 'service.name': 'router' }).merge(detectResources({ detectors: [envDetector] }));
    this.provider = new TracerProvider({
      resource,
      sampler: samplerFromEnv(env),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter(),
          scheduledDelayMillis: envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
          maxQueueSize: envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
          maxExportBatchSize: envNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
          exportTimeoutMillis: envNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30000),
        }),
      ],
    });
    this.tracer = this.provider.getTracer('router-serve');
  }

  request(id: string, method: string, path: string, headers: IncomingHttpHeaders): RequestTrace {
    const parent = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    const span = this.tracer.startSpan(
      `${method} ${path}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path, 'router.request_id': id, ...(typeof headers['x-request-id'] === 'string' ? { 'http.request.header.x-request-id': headers['x-request-id'] } : {}) } },
      parent,
    );
    const r = new OtelRequest(this.tracer, span, () => this.live.delete(id));
    this.live.set(id, r);
    return r;
  }

  observePolicy(policy: Policy): Policy {
    return decisionObserver(policy, (req, d, candidates, startMs) => {
      const worker = candidates.find((w) => w.index === d.worker)?.name ?? String(d.worker);
      const score = (d as { score?: unknown }).score;
      this.live.get(req.id)?.decided({ policy: policy.name, worker, branch: d.branch, score: typeof score === 'number' ? score : undefined, candidates: candidates.length, startMs, endMs: performance.now() });
    });
  }

  async shutdown(): Promise<void> {
    for (const r of this.live.values()) r.end({ status: 0, error: 'shutdown', attempts: 0, stream: false });
    await this.provider.shutdown();
  }
}

/** performance.now() (ms since the time origin) as an OTel time input in ms since the epoch. */
const epochMs = (perfMs: number): number => performance.timeOrigin + perfMs;

class OtelRequest implements RequestTrace {
  private readonly ctx: Context;
  private queue?: Span;
  private ended = false;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly forget: () => void,
  ) {
    this.ctx = trace.setSpan(ROOT_CONTEXT, span);
  }

  submitted(): void {
    this.queue?.end();
    this.queue = this.tracer.startSpan('router.queue', { kind: SpanKind.INTERNAL }, this.ctx);
  }

  decided(d: TracedDecision): void {
    const attributes: Attributes = { 'router.policy': d.policy, 'router.worker': d.worker, 'router.candidates': d.candidates };
    if (d.branch !== undefined) attributes['router.branch'] = d.branch;
    if (d.score !== undefined) attributes['router.score'] = d.score;
    this.tracer.startSpan('router.route', { kind: SpanKind.INTERNAL, attributes, startTime: epochMs(d.startMs) }, this.ctx).end(epochMs(d.endMs));
  }

  dispatched(worker: string): void {
    if (!this.queue) return;
    this.queue.setAttribute('router.worker', worker);
    this.queue.end();
    this.queue = undefined;
  }

  attempt(worker: { name: string; url: string }, n: number): AttemptTrace {
    let address: string | undefined;
    let port: number | undefined;
    try {
      const u = new URL(worker.url);
      address = u.hostname;
      port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    } catch {
      // A worker URL was validated when it was added; keep the span without the address.
    }
    const span = this.tracer.startSpan(
      'router.upstream',
      { kind: SpanKind.CLIENT, attributes: { 'router.worker': worker.name, 'router.attempt': n, ...(address !== undefined ? { 'server.address': address, 'server.port': port } : {}) } },
      this.ctx,
    );
    return new OtelAttempt(this.tracer, span);
  }

  end(o: { status: number; error?: string; attempts: number; stream: boolean; inputTokens?: number; outputTokens?: number }): void {
    if (this.ended) return;
    this.ended = true;
    this.forget();
    this.queue?.end();
    const s = this.span;
    s.setAttribute('http.response.status_code', o.status);
    s.setAttribute('router.attempts', o.attempts);
    s.setAttribute('router.stream', o.stream);
    if (o.inputTokens !== undefined) s.setAttribute('router.input_tokens', o.inputTokens);
    if (o.outputTokens !== undefined) s.setAttribute('router.output_tokens', o.outputTokens);
    if (o.error) {
      s.setAttribute('error.type', o.error);
      if (o.status >= 500 || o.status === 0) s.setStatus({ code: SpanStatusCode.ERROR, message: o.error });
    }
    s.end();
  }
}

class OtelAttempt implements AttemptTrace {
  readonly headers: Record<string, string> = {};
  private readonly ctx: Context;
  private wait?: Span;
  private stream?: Span;
  private ended = false;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
  ) {
    this.ctx = trace.setSpan(ROOT_CONTEXT, span);
    // The worker's own spans (vLLM's --otlp-traces-endpoint) become children of this attempt.
    propagator.inject(this.ctx, this.headers, recordSetter);
    this.wait = tracer.startSpan('router.first_byte', { kind: SpanKind.INTERNAL }, this.ctx);
  }

  firstByte(): void {
    if (!this.wait) return;
    this.wait.end();
    this.wait = undefined;
    this.stream = this.tracer.startSpan('router.stream', { kind: SpanKind.INTERNAL }, this.ctx);
  }

  end(o: { status?: number; error?: string; outputTokens?: number }): void {
    if (this.ended) return;
    this.ended = true;
    if (this.wait) {
      if (o.error) this.wait.setStatus({ code: SpanStatusCode.ERROR, message: o.error });
      this.wait.end();
    }
    if (this.stream) {
      if (o.outputTokens !== undefined) this.stream.setAttribute('router.output_tokens', o.outputTokens);
      if (o.error) this.stream.setStatus({ code: SpanStatusCode.ERROR, message: o.error });
      this.stream.end();
    }
    if (o.status !== undefined) this.span.setAttribute('http.response.status_code', o.status);
    if (o.error) {
      this.span.setAttribute('error.type', o.error);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: o.error });
    }
    this.span.end();
  }
}
