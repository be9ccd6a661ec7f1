import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildServices, httpDependencies, type Services } from './compose/services.js';
import { describeConfig, type Config } from './config.js';
import type { Database } from './db/database.js';
import { buildApp } from './http/app.js';
import { drainingServer, stopKeepAlive } from './http/drain.js';
import { Shutdown } from './kit/lifecycle.js';
import { resumeOptimizingCompiler, settleHeap } from './kit/heap.js';
import { every } from './kit/periodic.js';
import type { Logger } from './observability/logger.js';
import type { Registry } from './observability/metrics.js';
import { startAdminServer, type AdminServer } from './observability/admin-server.js';
import type { Tracing } from './observability/tracing.js';
import { buildCommit, packageVersion } from './version.js';
import { firstKeyNotice } from './first-key.js';

const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;
const IDEMPOTENCY_PURGE_BATCH = 1000;
const EVENT_PRUNE_INTERVAL_MS = 10 * 60_000;
const EVENT_PRUNE_BATCH = 1000;

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly database: Database;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** The graceful shutdown sequence; run it once, on a signal or from a test. */
  readonly shutdown: Shutdown;
  /** Where GET /metrics answers, when the admin listener is on. */
  readonly adminUrl: string | undefined;
  readonly metrics: Registry;
}

export interface StartOptions {
  /** The tracing SDK cli.ts started before importing this module; flushed at shutdown. */
  readonly tracing?: Tracing;
}

/**
 * The server, read top to bottom: config → services (compose.ts: database, stores, services)
 * → HTTP → listeners → background jobs → shutdown sequence.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  logger.info({ config: describeConfig(config), version: packageVersion(), commit: buildCommit(), node: process.version }, 'starting');

  const services: Services = await buildServices(config, logger);
  const { database, registry, users, events, webhooks, importRunner, dispatcher } = services;
  let redis: { readonly client: Redis; close(): Promise<void> } | undefined;
  let admin: AdminServer | undefined;
  try {
    if (config.auth.bootstrapKey) {
      const key = await services.apiKeys.bootstrap();
      if (key !== undefined) announceFirstKey(key, database.description);
    }

    // Shared rate-limit counters. Unreachable Redis never stops the service (fail open, logged).
    // ioredis is loaded only when Redis is configured.
    if (config.http.redisUrl !== undefined) {
      const { openRedis, closeRedis } = await import('./kit/redis.js');
      const client = openRedis(config.http.redisUrl, logger);
      redis = { client, close: () => closeRedis(client) };
    }
    const sharedCounters = redis;

    let draining = false;
    let closing = false;
    const app = await buildApp(
      httpDependencies(config, services, logger, {
        redis: sharedCounters?.client,
        readiness: {
          isDraining: () => draining,
          isClosing: () => closing,
          ping: () => database.ping(config.http.readyTimeoutMs),
        },
      }),
    );
    if (config.observability.adminPort !== undefined) {
      admin = await startAdminServer({ host: config.observability.adminHost, port: config.observability.adminPort, registry, logger });
      logger.info({ url: admin.url }, 'admin listener serving /metrics');
    }
    // Routes compiled (ready), nothing accepted yet: what loading and compiling grew and no longer
    // needs (the young generation above all) goes back before any request can wait behind the
    // collection; an idle server on Node 24 would keep it (kit/heap.ts).
    await app.ready();
    const settled = settleHeap();
    logger.debug(
      { heap_before: settled.heapBefore, heap_after: settled.heapAfter, ms: Math.round(settled.ms), young_follow_up: settled.followUp },
      'heap settled after start',
    );
    // From here on the code that runs is the requests' and the jobs': TurboFan may optimize it
    // (`roster serve` kept it off while starting: cli/heap-policy.ts).
    resumeOptimizingCompiler();
    const url = await app.listen({ host: config.http.host, port: config.http.port });
    logger.info({ url, database: database.description }, 'listening');
    dispatcher?.start();
    // Uploaded jobs a crash or a restart left behind are resumed (their leases decide who runs them).
    importRunner.start();

    const purge = every(
      IDEMPOTENCY_PURGE_INTERVAL_MS,
      async (signal) => {
        const purged = await users.purgeExpiredIdempotencyKeys(IDEMPOTENCY_PURGE_BATCH, signal);
        if (purged > 0) logger.info({ purged }, 'expired idempotency keys purged');
      },
      (error) => logger.warn({ err: error }, 'idempotency key purge failed'),
    );

    const prune = every(
      EVENT_PRUNE_INTERVAL_MS,
      async (signal) => {
        const pruned = await events.prune(config.events.retentionDays * 86_400_000, EVENT_PRUNE_BATCH, signal);
        if (pruned > 0) logger.info({ pruned, retention_days: config.events.retentionDays }, 'old events pruned');
        // The delivery log follows the events' retention.
        const attempts = await webhooks.pruneAttempts(config.events.retentionDays * 86_400_000, EVENT_PRUNE_BATCH, signal);
        if (attempts > 0) logger.info({ pruned: attempts, retention_days: config.events.retentionDays }, 'old webhook attempts pruned');
      },
      (error) => logger.warn({ err: error }, 'event pruning failed'),
    );

    // The drain (docs/operations.md, "Shutdown"): first a delay during which /readyz answers 503
    // but every request is still served, with `Connection: close` so keep-alive clients reconnect
    // (through their load balancer, elsewhere); the balancer takes the instance out of rotation
    // before the listener closes. Then the listener closes and connections close between
    // requests, never under one (http/drain.ts).
    const shutdown = new Shutdown(logger, config.http.shutdownTimeoutMs)
      .add('mark not ready', () => {
        draining = true;
        stopKeepAlive(app.server);
        logger.info({ drain_delay_ms: config.http.shutdownDrainDelayMs }, 'not ready: serving until the drain delay is over');
      })
      .add('wait for load balancers', () => sleep(config.http.shutdownDrainDelayMs))
      .add('stop background jobs', async () => {
        await Promise.all([purge.stop(), prune.stop()]);
      })
      // Running imports roll back their open batch and go back to pending (committed_line says
      // where to resume), leases released: the next instance to start resumes them.
      .add('cancel imports', () => importRunner.stop())
      .add('drain HTTP', () => {
        closing = true;
        // A connection that has sent nothing yet gets at most half of what is left after the
        // drain delay (the dispatcher has the other half), not the whole headers timeout.
        drainingServer(app.server).limitRequestWait((config.http.shutdownTimeoutMs - config.http.shutdownDrainDelayMs) / 2);
        logger.info('closing the listener; requests in flight finish');
        return app.close();
      })
      .add('close Redis', async () => {
        await sharedCounters?.close();
      })
      // Attempts in flight get half of the budget left after the drain delay; then leases are given back.
      .add('stop webhook dispatcher', async () => {
        await dispatcher?.stop(Math.max((config.http.shutdownTimeoutMs - config.http.shutdownDrainDelayMs) / 2, 100));
        await services.closeDeliveries();
      })
      .add('close database', () => database.close())
      .add('flush traces', () => options.tracing?.shutdown() ?? Promise.resolve())
      // Last, so the final scrape during the drain still answers.
      .add('close admin listener', () => admin?.close() ?? Promise.resolve());
    return { app, database, url, shutdown, adminUrl: admin?.url, metrics: registry };
  } catch (error) {
    await admin?.close().catch(() => undefined);
    await redis?.close().catch(() => undefined);
    await services.close().catch(() => undefined);
    throw error;
  }
}

/** On stderr, never the log: see first-key.ts. */
function announceFirstKey(key: string, database: string): void {
  process.stderr.write(firstKeyNotice(key, database, { colour: process.stderr.isTTY === true }));
}
