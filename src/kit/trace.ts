import { ProxyTracerProvider, SpanStatusCode, trace } from '@opentelemetry/api';
import { AppError } from './errors.js';

// The OpenTelemetry *API* only: without a registered SDK every call here is a no-op, so
// business code can mark its steps without knowing whether tracing is on.
const tracer = trace.getTracer('roster');

/**
 * Whether an OpenTelemetry SDK is registered (observability/tracing.ts registers one only when
 * spans are exported). Without one the API's provider is a proxy with nothing behind it.
 */
export function tracingRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer('roster') !== undefined;
}

/**
 * Whether the active span is recorded, i.e. this is a sampled trace. Without an SDK there is no
 * active span at all, so the check is a context lookup that finds nothing.
 */
export function inRecordedTrace(): boolean {
  return trace.getActiveSpan()?.isRecording() === true;
}

/**
 * Runs `work` inside a child span named `name` (e.g. `users.update`) when the caller's trace is
 * recorded; otherwise runs it as it is, with no span object made: a step's span only matters
 * inside a sampled trace. Expected outcomes (AppErrors: not found, conflict, validation) leave
 * the span OK; anything else is recorded on it as an error.
 */
export function inSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!inRecordedTrace()) return work();
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof AppError)) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      throw error;
    } finally {
      span.end();
    }
  });
}
