import { pino, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger } from 'pino';

/** Paths never written to logs, whatever object they appear in. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.secret',
  '*.token',
  '*.apiKey',
];

/** pino options shared by the service logger and tests: JSON lines, redaction, ISO times. */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    base: { service: 'roster' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
