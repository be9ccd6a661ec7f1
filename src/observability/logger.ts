import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogFormat, LogLevel } from '../config.js';
import { withDeadline } from '../kit/deadline.js';
import { prettyDestination } from './pretty-log.js';
import { LineBatcher } from './line-batcher.js';

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
    timestamp: isoTimeOncePerMs,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    // Every line written inside a traced request names its trace and span, so one slow request
    // can be followed from the logs to the trace and back.
    mixin() {
      const context = trace.getActiveSpan()?.spanContext();
      return context && isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : NO_TRACE;
    },
    mixinMergeStrategy: mergeTraceFields,
  };
}

/** The mixin's answer outside a traced request: nothing to add. */
export const NO_TRACE: Readonly<Record<string, never>> = Object.freeze({});

/**
 * pino's default merge (`Object.assign(mixin, line)`) copied every line's fields into a new
 * object even when the mixin had nothing to add, which outside a traced request is every line
 * (bench/RESULTS.md, issue 14, eleventh pass). The line is written as it is then; with trace
 * fields, as pino would: those first, the line's own fields after and winning.
 */
function mergeTraceFields(line: object, mixin: object): object {
  return mixin === NO_TRACE ? line : Object.assign(mixin, line);
}

/**
 * pino's isoTime, formatted once per millisecond: a busy server writes several request lines in
 * each, and toISOString() was ~0.5 µs of every line.
 */
export function isoTimeOncePerMs(): string {
  return isoTimeChunk(Date.now());
}

let lastMs = Number.NaN;
let lastTime = '';
let lastSecond = Number.NaN;
let secondPrefix = '';

/**
 * `,"time":"<toISOString() of ms>"`. The text up to the second's dot is formatted once per
 * second and the milliseconds appended: V8 formats a Date through snprintf, 8–9 k instructions,
 * which every line paid where lines are more than a millisecond apart (a lightly loaded server,
 * any server under valgrind; bench/RESULTS.md, issue 14, twelfth pass).
 */
export function isoTimeChunk(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    const millis = ((ms % 1000) + 1000) % 1000;
    const second = ms - millis;
    if (second !== lastSecond) {
      lastSecond = second;
      // Always `….000Z` for a whole second, whatever the year's width: dropped to the dot.
      secondPrefix = `,"time":"${new Date(second).toISOString().slice(0, -4)}`;
    }
    lastTime = `${secondPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z"`;
  }
  return lastTime;
}

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream | DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

/**
 * Lines are gathered up to this many bytes per write(2) (observability/line-batcher.ts): Linux's
 * PIPE_BUF, the most a write to a pipe carries atomically.
 */
const LOG_WRITE_BYTES = 4096;
/** Gathered lines are written at least this often, however few. */
const LOG_FLUSH_MS = 100;
const STDOUT = 1;
/** Lines beyond this many bytes waiting for a stalled stdout are dropped, not held: the buffer stays bounded. */
const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * stdout for JSON lines, written asynchronously in batches: one request line per write(2) was
 * a syscall and a libuv round trip per request on the main thread (bench/RESULTS.md, issue 14).
 * A line waits at most LOG_FLUSH_MS and is written when the process exits (a SIGKILL loses at
 * most that much: docs/operations.md). sonic-boom writes each batch as soon as it gets it
 * (minLength 0); the LineBatcher in front of it makes the batches.
 */
export function batchedStdout(): DestinationStream {
  // maxWrite: sonic-boom would otherwise join the batches queued behind a write in flight into
  // writes of up to 16 KiB, which a pipe does not take atomically.
  const out = pino.destination({
    dest: STDOUT,
    sync: false,
    minLength: 0,
    maxWrite: LOG_WRITE_BYTES,
    maxLength: LOG_BUFFER_MAX_BYTES,
  });
  return new LineBatcher(out, { fd: STDOUT, batchBytes: LOG_WRITE_BYTES, flushMs: LOG_FLUSH_MS });
}

/** How long a process about to exit waits for its last lines: a stalled stdout must not hold it up. */
const EXIT_FLUSH_PATIENCE_MS = 2_000;

/**
 * Resolves once every line logged so far is written (or after `withinMs`, stdout stalled):
 * what a process awaits before a process.exit() that ends a shutdown, so that its last lines
 * arrive after the others (the exit's own synchronous write cannot wait for a batch already in
 * flight: line-batcher.ts). Never rejects.
 */
export async function flushLogs(logger: Logger, withinMs = EXIT_FLUSH_PATIENCE_MS): Promise<void> {
  const flushed = new Promise<void>((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve(); // the stream is gone (destroyed, stdout closed): nothing more can be written
    }
  });
  // `flushed` never rejects: the only rejection is the deadline's, and then stdout is stalled.
  await withDeadline(flushed, withinMs, 'writing the last log lines').catch(() => undefined);
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
  if (!pretty) return createLogger(options.logLevel, out === process.stdout ? batchedStdout() : out);
  return pino(loggerOptions(options.logLevel), prettyDestination(out, { colour: out.isTTY === true }));
}
