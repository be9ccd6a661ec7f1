import { Redis } from 'ioredis';

export interface RedisLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface RedisClientOptions {
  /** Connection failures are logged at most once per interval (with how many were not). */
  readonly logIntervalMs?: number;
  readonly now?: () => number;
}

const LOG_INTERVAL_MS = 60_000;

/**
 * A Redis client for shared rate-limit counters, tuned to fail fast rather than queue: with
 * Redis down a command is refused at once (no offline queue), a slow Redis costs a request at
 * most `commandTimeout`, and the client keeps reconnecting in the background. Callers treat a
 * failure as "no answer" and serve the request anyway (see README, Rate limits). Connection
 * errors are logged throttled, never one line per request, and recovery is logged once.
 */
export function openRedis(url: string, log: RedisLog, options: RedisClientOptions = {}): Redis {
  const interval = options.logIntervalMs ?? LOG_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const client = new Redis(url, {
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 500,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
  });
  let lastLogged = -Infinity;
  let suppressed = 0;
  let failing = false;
  client.on('error', (error: Error) => {
    failing = true;
    if (now() - lastLogged < interval) {
      suppressed += 1;
      return;
    }
    log.warn({ err: error, suppressed }, 'Redis is unreachable: requests are still served, without rate limits, until it answers');
    lastLogged = now();
    suppressed = 0;
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    lastLogged = -Infinity;
    log.info({ suppressed }, 'Redis answers again: shared rate limits are enforced');
    suppressed = 0;
  });
  return client;
}

/** Closes the client whatever its state; never waits on an unreachable server. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  client.disconnect();
}
