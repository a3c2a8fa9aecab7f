import { TRACING_OFF, type Tracing } from './tracing.js';

// Apart from tracing.ts, which tracing-otel.ts imports: the OpenTelemetry SDK loads only when asked for.
/** Tracing as the OTEL_* environment asks: off without an OTLP endpoint (or with OTEL_SDK_DISABLED). */
export async function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return TRACING_OFF;
  const { OtelTracing } = await import('./tracing-otel.js');
  return new OtelTracing(env);
}
