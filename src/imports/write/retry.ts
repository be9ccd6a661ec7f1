import { setTimeout as sleep } from 'node:timers/promises';
import { fullJitterMs } from '../../kit/backoff.js';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** 0 ≤ random() < 1; injectable for tests. */
  readonly random?: () => number;
}

export const BATCH_RETRY: RetryOptions = { attempts: 6, baseDelayMs: 100, maxDelayMs: 5000 };

/**
 * Runs `work` until it succeeds, `isTransient` says an error is not worth retrying, the
 * attempts run out or `signal` aborts. Waits are "full jitter" (kit/backoff.ts: uniform in [0,
 * min(cap, base·2^n))), so writers that failed together do not retry together. Hand-written: the
 * policy is these few lines, and the retried unit (a whole batch transaction) is ours.
 */
export async function retrying<T>(
  work: (attempt: number) => Promise<T>,
  isTransient: (error: unknown) => boolean,
  signal: AbortSignal,
  options: RetryOptions = BATCH_RETRY,
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (signal.aborted || attempt >= options.attempts || !isTransient(error)) throw error;
      const delayMs = fullJitterMs(attempt, { baseMs: options.baseDelayMs, maxMs: options.maxDelayMs }, random);
      onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, undefined, { signal });
    }
  }
}
