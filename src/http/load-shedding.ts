import underPressure from '@fastify/under-pressure';
import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../kit/errors.js';

/** The instance is overloaded and refuses new work for a moment; another instance may take it. */
export class OverloadedError extends AppError {
  readonly code = 'overloaded';
}

export interface SheddingThresholds {
  /** Mean event-loop delay in ms above which new requests are refused; 0 disables. */
  readonly eventLoopDelayMs: number;
  /** V8 heap in use in MiB above which new requests are refused; 0 means 90% of the heap limit. */
  readonly heapUsedMb: number;
  /** Event-loop utilisation (0–1) over the last sample above which requests are refused; 0 disables. */
  readonly eventLoopUtilization: number;
  /** How often the signals are sampled (default 1 s); a pressure reading holds until the next sample. */
  readonly sampleIntervalMs?: number;
}

export const DEFAULT_SHEDDING: SheddingThresholds = { eventLoopDelayMs: 200, heapUsedMb: 0, eventLoopUtilization: 0 };

const RETRY_AFTER_SECONDS = 1;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served even when the instance sheds load (liveness: a busy process is not a dead one). */
    alwaysServe?: boolean;
  }
}

/**
 * Sheds load with @fastify/under-pressure: while a threshold is passed, new requests get a 503
 * `overloaded` problem with Retry-After before any work is done for them (no auth, no body
 * parsing). Routes with `config.alwaysServe` (/livez) still answer. Registered first, so its
 * check is the first hook of every request.
 */
export async function registerLoadShedding(
  app: FastifyInstance,
  thresholds: SheddingThresholds,
  onShed: (reason: string) => void,
): Promise<void> {
  const heapLimitMb = getHeapStatistics().heap_size_limit / 1024 / 1024;
  const heapUsedMb = thresholds.heapUsedMb > 0 ? thresholds.heapUsedMb : Math.floor(heapLimitMb * 0.9);
  await app.register(underPressure, {
    maxEventLoopDelay: thresholds.eventLoopDelayMs,
    maxHeapUsedBytes: heapUsedMb * 1024 * 1024,
    maxEventLoopUtilization: thresholds.eventLoopUtilization,
    // Utilisation over the last sample, not since start: a long quiet past must not hide a busy present.
    eventLoopUtilizationMode: 'interval',
    sampleInterval: thresholds.sampleIntervalMs ?? 1000,
    pressureHandler: (request, reply, type) => {
      if (request.routeOptions.config.alwaysServe === true) return undefined;
      onShed(type);
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return Promise.reject(
        new OverloadedError(`This instance is overloaded (${type}); retry in ${RETRY_AFTER_SECONDS} s or on another instance.`),
      );
    },
  });
}
