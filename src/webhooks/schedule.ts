import { backoffCapMs, fullJitterMs, type BackoffPolicy } from '../kit/backoff.js';

// The retry schedule of webhook deliveries and the reading of what a receiver answered.
// Pure functions of their inputs (the clock and randomness are arguments), so the dispatcher
// can store the result and the tests can pin every number.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The cap of the delay after the first failed attempt; each later failure doubles it. */
export const RETRY_BASE_DELAY_MS = 5 * SECOND;
/** No wait between two attempts is ever longer than this. */
export const RETRY_MAX_DELAY_MS = 6 * HOUR;
/** A delivery still failing this long after its first attempt is given up at its next failure. */
export const RETRY_HORIZON_MS = 72 * HOUR;

const RETRY_BACKOFF: BackoffPolicy = { baseMs: RETRY_BASE_DELAY_MS, maxMs: RETRY_MAX_DELAY_MS };

/** Bounds applied to a receiver's `Retry-After`, whatever it says. */
export const RETRY_AFTER_MIN_MS = 1 * SECOND;
export const RETRY_AFTER_MAX_MS = 1 * HOUR;

/**
 * The longest wait after failed attempt n (1-based) is `RETRY_CAPS_MS[n - 1]`; from the last
 * entry on it stays at RETRY_MAX_DELAY_MS. The actual wait is drawn uniformly from [0, cap)
 * ("full jitter"), so receivers recovering from an outage are not hit by every sender at once.
 */
export const RETRY_CAPS_MS: readonly number[] = (() => {
  const caps: number[] = [];
  for (let cap = RETRY_BASE_DELAY_MS; cap < RETRY_MAX_DELAY_MS; cap *= 2) caps.push(cap);
  caps.push(RETRY_MAX_DELAY_MS);
  return Object.freeze(caps);
})();

/** The longest wait after failed attempt `attempt` (1-based). */
export function retryCapMs(attempt: number): number {
  return backoffCapMs(attempt, RETRY_BACKOFF);
}

/**
 * How long to wait after failed attempt `attempt` before the next one: uniform in [0, cap).
 * `random` returns a number in [0, 1) like Math.random; anything else is clamped into range.
 */
export function nextAttemptDelay(attempt: number, random: () => number = Math.random): number {
  return fullJitterMs(attempt, RETRY_BACKOFF, random);
}

/** Whether a delivery first attempted at `firstAttemptAt` has run out of time to keep retrying. */
export function isPastHorizon(firstAttemptAt: Date, now: Date): boolean {
  return now.getTime() - firstAttemptAt.getTime() >= RETRY_HORIZON_MS;
}

export interface NextAttemptInput {
  /** The 1-based number of the attempt that just failed (retryably). */
  readonly attempt: number;
  readonly firstAttemptAt: Date;
  readonly now: Date;
  /** The receiver's bounded Retry-After, when it gave one. */
  readonly retryAfterMs?: number | undefined;
  readonly random?: () => number;
}

/**
 * When to try again after a retryable failure, or undefined when the delivery has failed for
 * the whole horizon and must be given up. The wait is the larger of the jittered backoff and
 * the receiver's Retry-After.
 */
export function nextAttemptAt({ attempt, firstAttemptAt, now, retryAfterMs, random }: NextAttemptInput): Date | undefined {
  if (isPastHorizon(firstAttemptAt, now)) return undefined;
  const delay = Math.max(nextAttemptDelay(attempt, random), retryAfterMs ?? 0);
  return new Date(now.getTime() + delay);
}

/** The schedule as a markdown table, for docs/webhooks.md (the test keeps the two in step). */
export function renderRetryScheduleMarkdown(): string {
  const rows = [
    '| After failed attempt | The next waits up to | So it starts, counted from the first attempt, at the latest | …and on average |',
    '| ---: | ---: | ---: | ---: |',
  ];
  let worst = 0;
  RETRY_CAPS_MS.forEach((cap, index) => {
    worst += cap;
    const last = index === RETRY_CAPS_MS.length - 1;
    const label = last ? `${index + 1} and later` : String(index + 1);
    const worstText = last ? `+ ${formatDuration(cap)} each, until ${formatDuration(RETRY_HORIZON_MS)}` : formatDuration(worst);
    const averageText = last ? `+ ${formatDuration(cap / 2)} each` : formatDuration(worst / 2);
    rows.push(`| ${label} | ${formatDuration(cap)} | ${worstText} | ${averageText} |`);
  });
  return rows.join('\n');
}

/** 5 s, 2 min 40 s, 1 h 25 min, 3 h: at most two units, rounded down, for a human reader. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [24 * HOUR, 'd'],
    [HOUR, 'h'],
    [MINUTE, 'min'],
    [SECOND, 's'],
  ];
  const parts: string[] = [];
  let rest = Math.floor(ms);
  for (const [size, name] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    } else if (parts.length > 0) {
      break;
    }
  }
  return parts.length > 0 ? parts.join(' ') : `${Math.floor(ms)} ms`;
}

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE =
  /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * A `Retry-After` value (RFC 9110 §10.2.3) as milliseconds from `now`, clamped to
 * [RETRY_AFTER_MIN_MS, RETRY_AFTER_MAX_MS]; undefined when absent or unreadable. Beyond the
 * RFC it accepts fractional and negative seconds (read as "soon", so the minimum). Dates in
 * the past also give the minimum. Never throws. A repeated header is read by its first value.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: Date): number | undefined {
  const text = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (text === undefined || text === '' || text.length > 64) return undefined;
  let ms: number;
  if (DECIMAL.test(text)) {
    ms = Number(text) * SECOND;
  } else if (IMF_FIXDATE.test(text) || RFC850_DATE.test(text)) {
    ms = Date.parse(text) - now.getTime();
  } else if (ASCTIME_DATE.test(text)) {
    // asctime has no zone; HTTP dates are always GMT, and Date.parse would otherwise assume local time.
    ms = Date.parse(`${text} GMT`) - now.getTime();
  } else {
    return undefined;
  }
  if (Number.isNaN(ms)) return undefined;
  return Math.round(Math.min(Math.max(ms, RETRY_AFTER_MIN_MS), RETRY_AFTER_MAX_MS));
}

/**
 * What a response status means for the delivery:
 * - `success`: 2xx;
 * - `gone`: 410, the receiver asks for the endpoint to be disabled;
 * - `permanent`: other 4xx (the request itself is refused), not retried except by a replay;
 * - `retryable`: 408, 409, 425, 429, 5xx, 3xx (redirects are not followed, yet the receiver
 *   may fix its URL) and anything outside 200–599.
 */
export type StatusClass = 'success' | 'retryable' | 'permanent' | 'gone';

const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status <= 299) return 'success';
  if (status === 410) return 'gone';
  if (status >= 400 && status <= 499) return RETRYABLE_4XX.has(status) ? 'retryable' : 'permanent';
  return 'retryable';
}

/** Statuses whose Retry-After is honoured (RFC 9110 gives it meaning on 429 and 503). */
export function honoursRetryAfter(status: number): boolean {
  return status === 429 || status === 503;
}
