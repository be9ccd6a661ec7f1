import { createRequire } from 'node:module';
import rateLimit, {
  normalizeIP,
  type FastifyRateLimitOptions,
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
} from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '../kit/errors.js';

/** The request budget of one caller in the current one-minute window is spent. */
export class RateLimitedError extends AppError {
  readonly code = 'rate-limited';
}

export interface RateLimits {
  /** Requests a minute per authenticated credential (its actor: `key:<id>` or `jwt:<sub>`). */
  readonly perCredentialPerMinute: number;
  /** Requests a minute per client IP for requests without valid credentials (and public routes). */
  readonly perIpPerMinute: number;
  /** Shared counters for every instance; without it each instance counts on its own. */
  readonly redis?: Redis | undefined;
  /** Prefix of the counter keys in Redis (tests give each run its own). */
  readonly namespace?: string | undefined;
  /** Called each time a request is let through unchecked because the shared counter failed (fail open). */
  readonly onFailOpen?: (error: Error) => void;
  /** Where fail-open is logged, throttled (see FailOpenLog); unlogged without it. */
  readonly log?: FailOpenLogger | undefined;
  /** At most one fail-open line per interval. Default 60 s. */
  readonly failOpenLogIntervalMs?: number;
}

export interface FailOpenLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Logs requests let through unchecked. The Redis client logs its connection failures (kit/redis.ts),
 * but a client that is connected again can still fail commands (a Redis that is slow, loading or
 * paused answers past the 500 ms command timeout): those were only counted. Here the first such
 * failure is logged at once, then at most one line per interval with how many were not, so an
 * outage that the connection state does not show is in the log without a line per request.
 */
export class FailOpenLog {
  #lastLogged = -Infinity;
  #unlogged = 0;

  constructor(
    private readonly log: FailOpenLogger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  readonly report = (error: Error): void => {
    const at = this.now();
    if (at - this.#lastLogged < this.intervalMs) {
      this.#unlogged += 1;
      return;
    }
    this.log.warn(
      { err: error, unchecked_since_last_line: this.#unlogged },
      'rate limit not checked (the shared counter failed): the request was served without it',
    );
    this.#lastLogged = at;
    this.#unlogged = 0;
  };
}

// The plugin's own Redis store (its Lua script, its key layout); it is not exported by name.
type RedisStoreClass = new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  namespace: string,
) => FastifyRateLimitStore;
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as RedisStoreClass;

/**
 * Wraps a counter store to report each failure before the plugin lets the request through
 * (`skipOnError`): the plugin swallows the error, and fail-open must be counted to be seen.
 */
class FailOpenReportingStore implements FastifyRateLimitStore {
  constructor(
    private readonly inner: FastifyRateLimitStore,
    private readonly onFailOpen: (error: Error) => void,
  ) {}

  incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow: number, max: number): void {
    this.inner.incr(
      key,
      (error, result) => {
        if (error) this.onFailOpen(error);
        callback(error, result);
      },
      timeWindow,
      max,
    );
  }

  child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    return new FailOpenReportingStore(this.inner.child(routeOptions), this.onFailOpen);
  }
}

function redisStore(redis: Redis, namespace: string, onFailOpen: (error: Error) => void): FastifyRateLimitStoreCtor {
  return class extends FailOpenReportingStore {
    constructor(options: FastifyRateLimitOptions) {
      // The plugin passes its resolved parameters, which include these two (absent from its types).
      const { continueExceeding = false, exponentialBackoff = false } = options as {
        continueExceeding?: boolean;
        exponentialBackoff?: boolean;
      };
      super(new RedisStore(continueExceeding, exponentialBackoff, redis, namespace), onFailOpen);
    }
  };
}

/** The budgets when none are given (the configuration's defaults). */
export const DEFAULT_RATE_LIMITS: RateLimits = { perCredentialPerMinute: 1200, perIpPerMinute: 60 };

export const DEFAULT_RATE_LIMIT_NAMESPACE = 'roster:rate-limit:';
const WINDOW_MS = 60_000;
const FAIL_OPEN_LOG_INTERVAL_MS = 60_000;

/**
 * The counter a request is charged to. Only a *verified* credential gets its own budget: a
 * request with a forged, unknown or revoked key is charged to its IP, so nobody can spend
 * another caller's budget by sending their key id, and a flood of random keys from one address
 * meets the small per-IP limit. IPv6 clients are grouped by /64 (one host usually owns one), so
 * rotating addresses within a prefix does not escape the limit.
 */
export function rateLimitKey(request: FastifyRequest): string {
  return request.principal ? request.principal.actor : `ip:${normalizeIP(request.ip)}`;
}

/**
 * Registers @fastify/rate-limit for every route registered afterwards (a route opts out with
 * `config: { rateLimit: false }`). Its onRequest hook runs after authentication has recorded the
 * principal and before access is enforced (see http/auth.ts), so rejected credentials are
 * counted too. A Redis failure lets the request through (fail open): counted, and logged throttled.
 */
export async function registerRateLimit(app: FastifyInstance, limits: RateLimits): Promise<void> {
  const logged =
    limits.log === undefined ? undefined : new FailOpenLog(limits.log, limits.failOpenLogIntervalMs ?? FAIL_OPEN_LOG_INTERVAL_MS);
  const onFailOpen = (error: Error) => {
    limits.onFailOpen?.(error);
    logged?.report(error);
  };
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: WINDOW_MS,
    max: (request) => (request.principal ? limits.perCredentialPerMinute : limits.perIpPerMinute),
    keyGenerator: rateLimitKey,
    enableDraftSpec: true,
    skipOnError: true,
    ...(limits.redis
      ? {
          store: redisStore(limits.redis, limits.namespace ?? DEFAULT_RATE_LIMIT_NAMESPACE, onFailOpen),
        }
      : {}),
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(`Too many requests: the limit is ${context.max} a minute; retry in ${context.after}.`),
  });
}
