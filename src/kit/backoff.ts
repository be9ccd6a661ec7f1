/** Exponential backoff: the longest wait doubles from `baseMs` with each failed attempt, up to `maxMs`. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The longest wait after failed attempt `attempt` (1-based; anything below 1 counts as 1): min(max, base·2^(attempt-1)). */
export function backoffCapMs(attempt: number, policy: BackoffPolicy): number {
  const n = Math.max(Math.floor(attempt), 1);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
}

/**
 * "Full jitter": a wait drawn uniformly from [0, cap) with the cap of backoffCapMs(), so
 * clients that failed together do not come back together. `random` returns a number in [0, 1)
 * like Math.random; anything else (NaN, ±Infinity, out of range) is clamped into range.
 */
export function fullJitterMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0;
  return Math.floor(unit * backoffCapMs(attempt, policy));
}
