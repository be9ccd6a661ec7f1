import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger, type LoggerOptions } from 'pino';
import type { LogFormat, LogLevel } from '../config.js';
import { prettyDestination } from './pretty-log.js';

export type { Logger } from 'pino';

/**
 * Paths never written to logs. Exact paths only: wildcard paths make the redactor walk every
 * object of every line (measured at ~3.5 µs per request line). Secrets are kept out of log
 * objects at the source instead: config is logged through `describeConfig` (masked), keys are
 * logged by id, and API key plaintext is never given to a logger.
 */
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'];

/** pino options shared by the service logger and tests: JSON lines, redaction, ISO times. */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    base: { service: 'roster' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    // Every line written inside a traced request names its trace and span, so one slow request
    // can be followed from the logs to the trace and back.
    mixin() {
      const context = trace.getActiveSpan()?.spanContext();
      return context && isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : {};
    },
  };
}

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

/**
 * The service's logger: JSON lines on stdout, or readable lines when LOG_FORMAT says `pretty`,
 * or says `auto` and stdout is a terminal (a person reads it: see observability/pretty-log.ts).
 */
export function createServiceLogger(
  options: { readonly logLevel: LogLevel; readonly logFormat: LogFormat },
  out: NodeJS.WriteStream = process.stdout,
): Logger {
  const pretty = options.logFormat === 'pretty' || (options.logFormat === 'auto' && out.isTTY === true);
  if (!pretty) return out === process.stdout ? createLogger(options.logLevel) : createLogger(options.logLevel, out);
  return pino(loggerOptions(options.logLevel), prettyDestination(out, { colour: out.isTTY === true }));
}
