import { TRACING_OFF, type Tracing } from './tracing-hooks.js';

export { NO_ATTEMPT, NO_REQUEST, TRACING_OFF, type AttemptTrace, type RequestTrace, type TracedDecision, type Tracing } from './tracing-hooks.js';
export { decisionObserver } from './tracing-decisions.js';

/** Tracing as the OTEL_* environment asks: off without an OTLP endpoint (or with OTEL_SDK_DISABLED). */
export async function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return TRACING_OFF;
  const { OtelTracing } = await import('./tracing-otel.js');
  return new OtelTracing(env);
}
