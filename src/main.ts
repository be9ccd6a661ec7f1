import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { describeConfig, type Config } from './config.js';
import { openDatabase, sharedSecret, type Database } from './db/database.js';
import { migrateToLatest } from './db/migrator.js';
import { buildApp } from './http/app.js';
import { drainingServer, stopKeepAlive } from './http/drain.js';
import { CursorCodec } from './kit/cursor.js';
import { Shutdown } from './kit/lifecycle.js';
import { every } from './kit/periodic.js';
import type { Logger } from './observability/logger.js';
import { SqlUserStore } from './users/sql-store.js';
import { UsersService } from './users/service.js';
import { buildCommit, packageVersion } from './version.js';
import { createMetricsRegistry, httpMetrics, type Registry } from './observability/metrics.js';
import { startAdminServer, type AdminServer } from './observability/admin-server.js';
import type { Tracing } from './observability/tracing.js';
import { databaseMetrics } from './db/instrumentation.js';
import { Authenticator } from './auth/authenticator.js';
import { JwtVerifier } from './auth/jwt.js';
import { ApiKeysService } from './auth/service.js';
import { SqlApiKeyStore } from './auth/sql-store.js';
import { closeRedis, openRedis } from './kit/redis.js';
import { EventsService } from './events/service.js';
import { SqlEventStore } from './events/sql-store.js';
import { WebhooksService } from './webhooks/service.js';
import { SqlWebhookStore } from './webhooks/sql-store.js';
import { SqlDeliveryStore } from './webhooks/sql-delivery-store.js';
import { WebhookHttpClient } from './webhooks/http-client.js';
import { Dispatcher } from './webhooks/dispatcher.js';
import { webhookMetrics } from './webhooks/metrics.js';
import { exportUsers } from './imports/export/export.js';
import { importMetrics } from './imports/metrics.js';
import { ImportLeaseHeldError, LeaseLostError } from './imports/errors.js';
import { ImportRunner } from './imports/jobs/runner.js';
import { ImportService } from './imports/service.js';
import { importServiceOptionsFor } from './imports/write/writers.js';

const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;
const IDEMPOTENCY_PURGE_BATCH = 1000;
const EVENT_PRUNE_INTERVAL_MS = 10 * 60_000;
const EVENT_PRUNE_BATCH = 1000;
/** Uploaded import jobs waiting to run, per instance. */
const IMPORT_QUEUE_LIMIT = 16;

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
 * The composition root, read top to bottom: config → database → stores → services → HTTP →
 * background jobs → shutdown sequence. Nothing else constructs a dependency.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  logger.info({ config: describeConfig(config), version: packageVersion(), commit: buildCommit(), node: process.version }, 'starting');

  const registry = createMetricsRegistry({ version: packageVersion(), commit: buildCommit() });
  const database = openDatabase(config.databaseUrl, {
    poolSize: config.dbPoolSize,
    sqliteBusyTimeoutMs: config.sqliteBusyTimeoutMs,
    statementTimeoutMs: config.requestTimeoutMs,
    metrics: databaseMetrics(registry),
    onIdleError: (error) => logger.warn({ err: error }, 'idle database connection failed'),
  });
  let redis: Redis | undefined;
  let admin: AdminServer | undefined;
  let deliveryDatabase: Database | undefined;
  try {
    if (config.migrateOnStart) {
      const { results } = await migrateToLatest(database.db, database.dialect.name);
      for (const r of results ?? []) logger.info({ migration: r.migrationName, status: r.status }, 'migration applied');
    }
    const cursorKey = await sharedSecret(database.db, 'cursor_hmac_key');

    const apiKeys = new ApiKeysService({
      store: new SqlApiKeyStore(database.db, database.dialect),
      cacheTtlMs: config.authCacheTtlMs,
      onTouchError: (error) => logger.warn({ err: error }, 'could not record API key use'),
    });
    const authenticator = new Authenticator(apiKeys, config.jwt ? new JwtVerifier(config.jwt) : undefined);
    if (config.bootstrapKey) {
      const key = await apiKeys.bootstrap();
      if (key !== undefined) announceBootstrapKey(key);
    }

    const userStore = new SqlUserStore(database.db, database.dialect);
    const users = new UsersService({
      store: userStore,
      cursors: new CursorCodec(cursorKey),
      newId: uuidv7,
      idempotencyTtlMs: config.idempotencyTtlHours * 3_600_000,
    });

    const events = new EventsService({ store: new SqlEventStore(database.db, database.dialect) });

    // On PostgreSQL the dispatcher has connections of its own: a burst of API writes queueing
    // for the pool must not stall deliveries, nor deliveries the API. SQLite has one writer anyway.
    if (database.dialect.name === 'postgres' && config.webhookWorkers > 0) {
      deliveryDatabase = openDatabase(config.databaseUrl, {
        poolSize: Math.min(8, config.webhookWorkers),
        statementTimeoutMs: config.requestTimeoutMs,
        onIdleError: (error) => logger.warn({ err: error }, 'idle webhook database connection failed'),
      });
    }
    const deliveryDb = deliveryDatabase ?? database;
    const webhookStore = new SqlDeliveryStore(deliveryDb.db, deliveryDb.dialect);
    const webhooks = new WebhooksService({
      store: new SqlWebhookStore(database.db, database.dialect),
      newId: uuidv7,
      allowList: config.webhookAllowedHosts,
      secretGraceMs: config.webhookSecretGraceHours * 3_600_000,
    });
    // An attempt must end well within the lease, or a slow receiver could see a second
    // instance's attempt of the same event while the first is still running.
    const webhookClient = new WebhookHttpClient({
      allowList: config.webhookAllowedHosts,
      attemptTimeoutMs: Math.min(30_000, config.webhookLeaseMs / 2),
    });
    const dispatcher =
      config.webhookWorkers === 0
        ? undefined
        : new Dispatcher({
            store: webhookStore,
            client: webhookClient,
            logger: logger.child({ component: 'webhooks' }),
            newId: uuidv7,
            workers: config.webhookWorkers,
            pollIntervalMs: config.webhookPollIntervalMs,
            leaseMs: config.webhookLeaseMs,
            metrics: webhookMetrics(registry),
          });
    const imports = new ImportService({
      ...importServiceOptionsFor(database),
      newId: uuidv7,
      onRetry: (error, attempt, delayMs) => logger.warn({ err: error, attempt, delay_ms: delayMs }, 'import batch failed; retrying'),
      metrics: importMetrics(registry),
      leases: {
        leaseMs: config.importLeaseMs,
        onRenewError: (error, id) => logger.warn({ err: error, import_id: id }, 'import lease renewal failed; retrying'),
      },
    });
    const importRunner = new ImportRunner({
      service: imports,
      concurrency: config.importConcurrency,
      queueLimit: IMPORT_QUEUE_LIMIT,
      onFinished: ({ job, error }) =>
        logger.info(
          { import_id: job.id, status: job.status, counts: job.counts, committed_line: job.committedLine, err: error },
          'import finished',
        ),
      onError: (error, job) => {
        if (error instanceof ImportLeaseHeldError)
          logger.info({ import_id: job.id, owner: error.owner }, 'import is run by another process');
        else if (error instanceof LeaseLostError)
          logger.warn({ err: error, import_id: job.id }, 'import taken over by another process; stopped');
        else logger.error({ err: error, import_id: job.id }, 'import could not record its end');
      },
      onResumed: (job) =>
        logger.info({ import_id: job.id, status: job.status, committed_line: job.committedLine }, 'resuming an abandoned import'),
      onScanError: (error) => logger.warn({ err: error }, 'looking for abandoned imports failed; retrying later'),
    });

    // Shared rate-limit counters. Unreachable Redis never stops the service (fail open, logged).
    redis = config.redisUrl === undefined ? undefined : openRedis(config.redisUrl, logger);
    const sharedCounters = redis;

    let draining = false;
    let closing = false;
    const app = await buildApp({
      logger,
      users,
      apiKeys,
      events,
      webhooks,
      imports: {
        service: imports,
        runner: importRunner,
        spoolDir: config.importDir,
        maxBytes: config.importMaxBytes,
        uploadTimeoutMs: config.importUploadTimeoutMs,
        uploadIdleMs: config.importUploadIdleMs,
        exportUsers: (options) => exportUsers(database, options),
      },
      authenticator,
      bodyLimitBytes: config.bodyLimitBytes,
      rateLimits: {
        perCredentialPerMinute: config.rateLimitPerMinute,
        perIpPerMinute: config.rateLimitAnonPerMinute,
        redis: sharedCounters,
      },
      metrics: httpMetrics(registry),
      requestTimeoutMs: config.requestTimeoutMs,
      serverTimeouts: {
        headersTimeoutMs: config.httpHeadersTimeoutMs,
        requestTimeoutMs: config.httpRequestTimeoutMs,
        keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
      },
      shedding: {
        eventLoopDelayMs: config.shedEventLoopDelayMs,
        heapUsedMb: config.shedHeapUsedMb,
        eventLoopUtilization: config.shedEventLoopUtilization,
      },
      trustProxy: config.trustProxy,
      corsOrigins: config.corsOrigins,
      version: packageVersion(),
      readiness: {
        isDraining: () => draining,
        isClosing: () => closing,
        ping: () => database.ping(config.readyTimeoutMs),
      },
    });
    if (config.adminPort !== undefined) {
      admin = await startAdminServer({ host: config.adminHost, port: config.adminPort, registry, logger });
      logger.info({ url: admin.url }, 'admin listener serving /metrics');
    }
    const url = await app.listen({ host: config.host, port: config.port });
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
        const pruned = await events.prune(config.eventRetentionDays * 86_400_000, EVENT_PRUNE_BATCH, signal);
        if (pruned > 0) logger.info({ pruned, retention_days: config.eventRetentionDays }, 'old events pruned');
        // The delivery log follows the events' retention.
        const attempts = await webhooks.pruneAttempts(config.eventRetentionDays * 86_400_000, EVENT_PRUNE_BATCH, signal);
        if (attempts > 0) logger.info({ pruned: attempts, retention_days: config.eventRetentionDays }, 'old webhook attempts pruned');
      },
      (error) => logger.warn({ err: error }, 'event pruning failed'),
    );

    // The drain (docs/operations.md, "Shutdown"): first a delay during which /readyz answers 503
    // but every request is still served, with `Connection: close` so keep-alive clients reconnect
    // (through their load balancer, elsewhere); the balancer takes the instance out of rotation
    // before the listener closes. Then the listener closes and connections close between
    // requests, never under one (http/drain.ts).
    const shutdown = new Shutdown(logger, config.shutdownTimeoutMs)
      .add('mark not ready', () => {
        draining = true;
        stopKeepAlive(app.server);
        logger.info({ drain_delay_ms: config.shutdownDrainDelayMs }, 'not ready: serving until the drain delay is over');
      })
      .add('wait for load balancers', () => sleep(config.shutdownDrainDelayMs))
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
        drainingServer(app.server).limitRequestWait((config.shutdownTimeoutMs - config.shutdownDrainDelayMs) / 2);
        logger.info('closing the listener; requests in flight finish');
        return app.close();
      })
      .add('close Redis', async () => {
        if (sharedCounters) await closeRedis(sharedCounters);
      })
      // Attempts in flight get half of the budget left after the drain delay; then leases are given back.
      .add('stop webhook dispatcher', async () => {
        await dispatcher?.stop(Math.max((config.shutdownTimeoutMs - config.shutdownDrainDelayMs) / 2, 100));
        await webhookClient.close();
        await deliveryDatabase?.close();
      })
      .add('close database', () => database.close())
      .add('flush traces', () => options.tracing?.shutdown() ?? Promise.resolve())
      // Last, so the final scrape during the drain still answers.
      .add('close admin listener', () => admin?.close() ?? Promise.resolve());
    return { app, database, url, shutdown, adminUrl: admin?.url, metrics: registry };
  } catch (error) {
    await admin?.close().catch(() => undefined);
    if (redis) await closeRedis(redis).catch(() => undefined);
    await deliveryDatabase?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw error;
  }
}

/**
 * The first admin key goes to the operator's terminal (stderr), never into the JSON log on
 * stdout where log shippers would copy it. The key is alone on its line so scripts can take it.
 */
function announceBootstrapKey(key: string): void {
  process.stderr.write(
    '\nRoster created an admin API key for this new database. It is shown only this once:\n' +
      'store it in your secret manager now, then create narrower keys with `roster keys create`.\n' +
      `${key}\n\n`,
  );
}
