import { Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { openDatabase, sharedSecret, type Database } from '../db/database.js';
import { databaseMetrics } from '../db/metrics.js';
import type { AppDependencies } from '../http/app.js';
import type { Readiness } from '../http/health.routes.js';
import type { ImportsHttp } from '../http/imports.routes.js';
import { CursorCodec } from '../kit/cursor.js';
import { newUuidV7 } from '../kit/uuid.js';
import type { Logger } from '../observability/logger.js';
import { createMetricsRegistry, httpMetrics } from '../observability/metrics.js';
import { Authenticator } from '../auth/authenticator.js';
import { ApiKeysService } from '../auth/service.js';
import { SqlApiKeyStore } from '../auth/sql-store.js';
import { EventCommits } from '../events/commits.js';
import { hasOrphanedEvents, sequencerForPool } from '../events/sql-sequencer.js';
import { every } from '../kit/periodic.js';
import { EventsService } from '../events/service.js';
import { SqlEventStore } from '../events/sql-store.js';
import { exportUsers } from '../imports/export/export.js';
import { ImportLeaseHeldError, LeaseLostError } from '../imports/errors.js';
import { importMetrics } from '../imports/metrics.js';
import { ImportRunner } from '../imports/jobs/runner.js';
import type { ImportService } from '../imports/service.js';
import { importServiceFor } from './imports.js';
import { groupStoreFor, userStoreFor } from './users.js';
import { commitNotifier, migrateIfConfigured, openConfiguredDatabase, sequencedOnItsPool, type CommandDatabase } from './database.js';
import { GroupsService } from '../groups/service.js';
import { consoleFor } from './console.js';
import { scimDirectory } from './scim.js';
import { UsersService } from '../users/service.js';
import { Dispatcher, type Wakeups } from '../webhooks/dispatcher.js';
import { WebhookHttpClient } from '../webhooks/http-client.js';
import { webhookMetrics } from '../webhooks/metrics.js';
import { SqlDeliveryStore } from '../webhooks/sql-delivery-store.js';
import { SqlWebhookStore } from '../webhooks/sql-store.js';
import { WebhooksService } from '../webhooks/service.js';
import { packageVersion, buildCommit } from '../version.js';

/** Uploaded import jobs waiting to run, per instance. */
export const IMPORT_QUEUE_LIMIT = 16;

/**
 * Everything `serve`, the `keys` and groups file commands and the tests share: the database, the
 * stores and the services over it, wired from one config. Nothing here listens or runs in the
 * background: main.ts starts the listeners and loops; a command uses what it needs and calls
 * close(). `roster import` and `roster export` load none of it (compose/import-command.ts).
 */
export interface Services {
  readonly database: Database;
  readonly registry: Registry;
  readonly apiKeys: ApiKeysService;
  readonly authenticator: Authenticator;
  readonly users: UsersService;
  readonly groups: GroupsService;
  readonly events: EventsService;
  /** Announced after every commit of this process's writers that appended events; the dispatcher wakes on it. */
  readonly eventCommits: EventCommits;
  readonly webhooks: WebhooksService;
  readonly imports: ImportService;
  /** Background runs of uploaded jobs; started by main.ts, stopped at shutdown. */
  readonly importRunner: ImportRunner;
  /** The webhook dispatcher, not started; undefined for commands or with ROSTER_WEBHOOK_WORKERS=0. */
  readonly dispatcher: Dispatcher | undefined;
  /** Closes what the dispatcher holds (its HTTP client and, on PostgreSQL, its own pool); stop it first. */
  closeDeliveries(): Promise<void>;
  /** closeDeliveries(), then the database unless it was given in ServicesOptions. */
  close(): Promise<void>;
}

export interface ServicesOptions {
  /** An open, migrated database to use (tests); close() leaves it open, its owner closes it. */
  readonly database?: Database;
  /**
   * A one-off command (keys, import, export): this many connections, no statement timeout (an
   * import batch or an export may outlast a request's deadline), no webhook dispatcher, and a
   * SQLite file that does not exist is refused (DatabaseNotFoundError), not created.
   */
  readonly command?: CommandDatabase;
  /** Where the capabilities' metrics go; default: the process registry of a server, a private one for commands. */
  readonly registry?: Registry;
  /** Ids of users, endpoints, jobs and events (tests fix them); default UUIDv7. */
  readonly newId?: () => string;
  /** Uploaded jobs waiting to run; default IMPORT_QUEUE_LIMIT. */
  readonly importQueueLimit?: number;
  /** How a failed import batch about to be retried is reported; default a warning in the log. */
  readonly onImportRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Opens the database (unless given), applies pending migrations when ROSTER_MIGRATE_ON_START
 * is on, and builds every store and service over it. On failure, whatever it opened is closed.
 */
export async function buildServices(config: Config, logger: Logger, options: ServicesOptions = {}): Promise<Services> {
  const registry =
    options.registry ??
    (options.command === undefined ? createMetricsRegistry({ version: packageVersion(), commit: buildCommit() }) : new Registry());
  const owned = options.database === undefined;
  const database =
    options.database ??
    openConfiguredDatabase(config, logger, {
      command: options.command,
      ...(options.command === undefined ? { metrics: databaseMetrics(registry) } : {}),
    });
  let deliveryDatabase: Database | undefined;
  let numbering: { stop(): Promise<void> } | undefined;
  try {
    await migrateIfConfigured(config, database, (migration, status) => logger.info({ migration, status }, 'migration applied'));
    const newId = options.newId ?? newUuidV7;
    const cursorKey = await sharedSecret(database.db, 'cursor_hmac_key');

    const apiKeys = new ApiKeysService({
      store: new SqlApiKeyStore(database.db, database.dialect),
      cacheTtlMs: config.auth.cacheTtlMs,
      onTouchError: (error) => logger.warn({ err: error }, 'could not record API key use'),
    });
    // jose is loaded only when JWTs are configured.
    const jwt = config.auth.jwt === undefined ? undefined : new (await import('../auth/jwt.js')).JwtVerifier(config.auth.jwt);
    const authenticator = new Authenticator(apiKeys, jwt);

    const eventCommits = new EventCommits();
    const notifier = await commitNotifier(database, eventCommits, logger.child({ component: 'events' }));
    numbering =
      options.command === undefined ? eventNumberingNet(database, eventCommits, logger.child({ component: 'events' })) : undefined;
    const users = new UsersService({
      store: userStoreFor(database, { onEventsCommitted: eventCommits.announce, newId }),
      cursors: new CursorCodec(cursorKey),
      newId,
      idempotencyTtlMs: config.users.idempotencyTtlHours * 3_600_000,
    });

    const groups = new GroupsService({
      store: groupStoreFor(database, { onEventsCommitted: eventCommits.announce }),
      cursors: new CursorCodec(cursorKey),
      newId,
      idempotencyTtlMs: config.users.idempotencyTtlHours * 3_600_000,
    });

    const events = new EventsService({ store: new SqlEventStore(database.db, database.dialect) });

    const webhooks = new WebhooksService({
      store: new SqlWebhookStore(database.db, database.dialect),
      newId,
      allowList: config.webhooks.allowedHosts,
      secretGraceMs: config.webhooks.secretGraceHours * 3_600_000,
    });

    let webhookClient: WebhookHttpClient | undefined;
    let dispatcher: Dispatcher | undefined;
    if (options.command === undefined && config.webhooks.workers > 0) {
      // On PostgreSQL the dispatcher has connections of its own: a burst of API writes queueing
      // for the pool must not stall deliveries, nor deliveries the API. SQLite has one writer anyway.
      if (database.dialect.name === 'postgres') {
        deliveryDatabase = sequencedOnItsPool(
          openDatabase(config.database.url, {
            poolSize: Math.min(8, config.webhooks.workers),
            statementTimeoutMs: config.http.requestTimeoutMs,
            onIdleError: (error) => logger.warn({ err: error }, 'idle webhook database connection failed'),
          }),
        );
      }
      const deliveryDb = deliveryDatabase ?? database;
      // An attempt must end well within the lease, or a slow receiver could see a second
      // instance's attempt of the same event while the first is still running.
      webhookClient = new WebhookHttpClient({
        allowList: config.webhooks.allowedHosts,
        attemptTimeoutMs: Math.min(30_000, config.webhooks.leaseMs / 2),
      });
      dispatcher = new Dispatcher({
        store: new SqlDeliveryStore(deliveryDb.db, deliveryDb.dialect),
        client: webhookClient,
        logger: logger.child({ component: 'webhooks' }),
        newId,
        workers: config.webhooks.workers,
        pollIntervalMs: config.webhooks.pollIntervalMs,
        wakeups: await commitWakeups(
          database.dialect.name === 'postgres' ? config.database.url : undefined,
          eventCommits,
          logger.child({ component: 'webhooks' }),
        ),
        leaseMs: config.webhooks.leaseMs,
        metrics: webhookMetrics(registry),
      });
    }

    const imports = importServiceFor(database, {
      newId,
      onEventsCommitted: eventCommits.announce,
      onRetry:
        options.onImportRetry ??
        ((error, attempt, delayMs) => logger.warn({ err: error, attempt, delay_ms: delayMs }, 'import batch failed; retrying')),
      metrics: importMetrics(registry),
      sqliteWorker: config.imports.sqliteWorker,
      leases: {
        leaseMs: config.imports.leaseMs,
        onRenewError: (error, id) => logger.warn({ err: error, import_id: id }, 'import lease renewal failed; retrying'),
      },
    });
    const importRunner = new ImportRunner({
      service: imports,
      concurrency: config.imports.concurrency,
      queueLimit: options.importQueueLimit ?? IMPORT_QUEUE_LIMIT,
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

    const deliveries = deliveryDatabase;
    const closeDeliveries = async () => {
      await webhookClient?.close();
      await deliveries?.close();
    };
    return {
      database,
      registry,
      apiKeys,
      authenticator,
      users,
      groups,
      events,
      eventCommits,
      webhooks,
      imports,
      importRunner,
      dispatcher,
      closeDeliveries,
      async close() {
        await closeDeliveries();
        await numbering?.stop();
        await notifier?.stop();
        if (owned) await database.close();
      },
    };
  } catch (error) {
    await numbering?.stop();
    await deliveryDatabase?.close().catch(() => undefined);
    if (owned) await database.close().catch(() => undefined);
    throw error;
  }
}

/** How often a server looks for committed events that no writer's pass numbered. */
const NUMBERING_NET_MS = 1_000;

/**
 * PostgreSQL: every writer waits for a numbering pass after its commit (events/sql-sequencer.ts),
 * so events are numbered at once; this is the safety net for the rest (a writer that died or lost
 * its connection between its commit and its pass, appendEvent() callers that do not publish): each
 * server looks every second for events committed over a second ago and still unnumbered, numbers
 * them, and announces it (waking this instance's dispatcher and, through the notifier, the
 * others'). Only old ones: a writer's own pass announces its events, once.
 */
function eventNumberingNet(database: Database, commits: EventCommits, logger: Logger): { stop(): Promise<void> } | undefined {
  const driver = database.driver;
  if (driver.kind !== 'postgres') return undefined;
  const sequencer = sequencerForPool(driver.pool);
  let failures = 0;
  const net = every(
    NUMBERING_NET_MS,
    async () => {
      const error = await hasOrphanedEvents(driver.pool, NUMBERING_NET_MS).then(
        async (found) => {
          if (!found) return undefined;
          const failed = await sequencer.sequence();
          if (failed === undefined) commits.announce();
          return failed;
        },
        (failed: unknown) => (failed instanceof Error ? failed : new Error(String(failed))),
      );
      if (error === undefined) {
        if (failures > 0) logger.info({ failed_passes: failures }, 'committed events are numbered again');
        failures = 0;
        return;
      }
      failures++;
      // One line when numbering stops working, then one a minute, not one a second.
      if (failures === 1 || failures % 60 === 0)
        logger.warn(
          { err: error, failed_passes: failures },
          'committed events could not be numbered (the feed waits); retrying every second',
        );
    },
    () => undefined,
  );
  return {
    stop: () => net.stop(),
  };
}

/**
 * What wakes the dispatcher: this process's commits at once, and on PostgreSQL every other
 * instance's (and every CLI's) through one LISTEN connection (loaded only there). What the
 * listener hears wakes the dispatcher directly, never `commits`: those are this process's own
 * commits, which the notifier passes on, so feeding it what was heard would echo between
 * instances. While that connection is down the wake-ups are not live, and the dispatcher polls
 * at its short interval.
 */
async function commitWakeups(postgresUrl: string | undefined, commits: EventCommits, logger: Logger): Promise<Wakeups> {
  let wakeDispatcher: (() => void) | undefined;
  const listener =
    postgresUrl === undefined
      ? undefined
      : new (await import('../events/sql-commit-listener.js')).PostgresCommitListener({
          url: postgresUrl,
          onCommit: () => wakeDispatcher?.(),
          logger,
        });
  let unsubscribe: (() => void) | undefined;
  return {
    start(wake) {
      wakeDispatcher = wake;
      unsubscribe ??= commits.subscribe(wake);
      listener?.start();
    },
    get live() {
      return listener?.listening ?? true;
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      wakeDispatcher = undefined;
      await listener?.stop();
    },
  };
}

/** Import and export as the HTTP routes take them, from the imports section of the config. */
export function importsHttp(config: Config, services: Services): ImportsHttp {
  return {
    service: services.imports,
    runner: services.importRunner,
    spoolDir: config.imports.dir,
    maxBytes: config.imports.maxBytes,
    uploadTimeoutMs: config.imports.uploadTimeoutMs,
    uploadIdleMs: config.imports.uploadIdleMs,
    exportUsers: (options) => exportUsers(services.database, options),
  };
}

/**
 * What buildApp() takes, from the config and the services: main.ts and the test helpers build
 * the same app. `readiness` is the caller's (the shutdown sequence flips it); `redis` holds the
 * shared rate-limit counters when configured.
 */
export function httpDependencies(
  config: Config,
  services: Services,
  logger: Logger,
  extra: { readonly readiness: Readiness; readonly redis?: Redis | undefined },
): AppDependencies {
  const imports = importsHttp(config, services);
  return {
    logger,
    users: services.users,
    groups: services.groups,
    apiKeys: services.apiKeys,
    events: services.events,
    webhooks: services.webhooks,
    imports,
    authenticator: services.authenticator,
    console: consoleFor(services, config.auth, { imports, readiness: extra.readiness, logger }),
    scim: scimDirectory(services.users, services.groups),
    bodyLimitBytes: config.http.bodyLimitBytes,
    rateLimits: {
      perCredentialPerMinute: config.http.rateLimitPerMinute,
      perIpPerMinute: config.http.rateLimitAnonPerMinute,
      redis: extra.redis,
    },
    metrics: httpMetrics(services.registry),
    requestTimeoutMs: config.http.requestTimeoutMs,
    serverTimeouts: {
      headersTimeoutMs: config.http.headersTimeoutMs,
      requestTimeoutMs: config.http.wholeRequestTimeoutMs,
      keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
    },
    shedding: {
      eventLoopDelayMs: config.http.shedEventLoopDelayMs,
      heapUsedMb: config.http.shedHeapUsedMb,
      eventLoopUtilization: config.http.shedEventLoopUtilization,
    },
    trustProxy: config.http.trustProxy,
    corsOrigins: config.http.corsOrigins,
    version: packageVersion(),
    readiness: extra.readiness,
  };
}
