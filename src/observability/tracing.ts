import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config.js';

export interface Tracing {
  /** True when the SDK is registered: spans are made (for sampled traces) and exported. */
  readonly active: boolean;
  /** Flushes spans still buffered and stops the exporter (a shutdown step). */
  shutdown(): Promise<void>;
}

/** No SDK: the OpenTelemetry API stays its no-op, so no span, context or provider exists. */
export const NO_TRACING: Tracing = { active: false, shutdown: () => Promise.resolve() };

/**
 * Starts tracing when something will collect the spans: an OTLP endpoint is configured, or a
 * test gives `processors` (an in-memory exporter). Otherwise it returns NO_TRACING without
 * loading the SDK at all: a span nobody exports only costs CPU per request (the context
 * manager's async hooks, span objects, ids) and memory at start.
 *
 * Call it before the app's modules are imported (cli/serve.ts does) so every tracer they take
 * is the SDK's.
 */
export async function startTracing(config: TracingConfig, version: string, processors: readonly SpanProcessor[] = []): Promise<Tracing> {
  if (!config.enabled || (config.exportEndpoint === undefined && processors.length === 0)) return NO_TRACING;
  const { startTracingSdk } = await import('./tracing-sdk.js');
  return startTracingSdk(config, version, processors);
}
