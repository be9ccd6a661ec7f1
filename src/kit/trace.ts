import { SpanStatusCode, trace } from '@opentelemetry/api';
import { AppError } from './errors.js';

// The OpenTelemetry *API* only: without a registered SDK every call here is a no-op, so
// business code can mark its steps without knowing whether tracing is on.
const tracer = trace.getTracer('roster');

/**
 * Runs `work` inside a child span named `name` (e.g. `users.update`). Expected outcomes
 * (AppErrors: not found, conflict, validation) leave the span OK; anything else is recorded
 * on it as an error.
 */
export function inSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
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
