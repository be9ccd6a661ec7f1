import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracesSampler, TracingConfig } from '../config.js';
import type { Tracing } from './tracing.js';

/**
 * The OpenTelemetry SDK, loaded only by startTracing() when spans will be collected. It registers
 * the AsyncLocalStorage context manager and the W3C trace-context propagator, so an incoming
 * `traceparent` is continued and the active span follows each request through hooks, services
 * and queries. The exporter reads the other standard OTEL_EXPORTER_OTLP_* variables itself.
 */
export function startTracingSdk(config: TracingConfig, version: string, processors: readonly SpanProcessor[]): Tracing {
  const spanProcessors = [...processors];
  if (config.exportEndpoint !== undefined) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  const resource = detectResources({ detectors: [envDetector] }).merge(
    resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, [ATTR_SERVICE_VERSION]: version }),
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors, sampler: samplerFor(config.sampler) });
  provider.register();
  return { active: true, shutdown: () => provider.shutdown() };
}

/**
 * The SDK would read OTEL_TRACES_SAMPLER itself, but it falls back to always-on, silently, on a
 * value it does not know; config.ts refuses such a value at start instead, and this builds it.
 */
export function samplerFor({ name, ratio }: TracesSampler): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
