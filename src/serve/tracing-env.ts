import { TRACING_OFF, type Tracing } from './tracing.js';

// Its own module so the OpenTelemetry SDK (tracing-otel.ts, which implements tracing.ts's
// interfaces) loads only when an endpoint is set, without an import cycle.
/** Tracing as the OTEL_* environment asks: off without an OTLP endpoint (or with OTEL_SDK_DISABLED). */
export async function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return TRACING_OFF;
  const { OtelTracing } = await import('./tracing-otel.js');
  return new OtelTracing(env);
}
