import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../config.js';

export interface Tracing {
  /** Flushes spans still buffered and stops the exporter (a shutdown step). */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry tracing SDK. Call it before the app's modules are imported (cli.ts
 * does) so every tracer they take is the real one. It registers the AsyncLocalStorage context
 * manager and the W3C trace-context propagator, so an incoming `traceparent` is continued and
 * the active span follows each request through hooks, services and queries.
 *
 * Spans are exported over OTLP/HTTP only when an endpoint is configured; the exporter reads
 * the other standard OTEL_EXPORTER_OTLP_* variables itself. Without one, spans still exist
 * (log lines carry their trace and span ids) but nothing leaves the process. `processors` lets
 * tests add an in-memory exporter.
 */
export function startTracing(config: TracingConfig, version: string, processors: readonly SpanProcessor[] = []): Tracing {
  if (!config.enabled) return { shutdown: () => Promise.resolve() };
  const spanProcessors = [...processors];
  if (config.exportEndpoint !== undefined) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  const resource = detectResources({ detectors: [envDetector] }).merge(
    resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, [ATTR_SERVICE_VERSION]: version }),
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}
