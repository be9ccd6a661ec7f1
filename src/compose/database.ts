import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import type { DatabaseMetrics } from '../db/metrics.js';
import { migrateToLatest } from '../db/migrator.js';
import type { EventCommits } from '../events/commits.js';
import { shareSequencer } from '../events/sql-sequencer.js';
import type { Logger } from '../observability/logger.js';

// The database as every process opens it: the server (compose/services.ts) and the one-off
// commands, the import-only ones included (compose/import-command.ts), which must not load the
// rest of the services to get it.

/** How a one-off command opens the database. */
export interface CommandDatabase {
  readonly poolSize: number;
  /** `migrate` only: create the SQLite file when it does not exist. */
  readonly mayCreate?: boolean;
}

/** Opens the configured database: the server's pool, or a command's few connections. */
export function openConfiguredDatabase(
  config: Config,
  logger: Pick<Logger, 'warn'>,
  options: { command?: CommandDatabase | undefined; metrics?: DatabaseMetrics } = {},
): Database {
  if (options.command !== undefined) {
    return sequencedOnItsPool(
      openDatabase(config.database.url, {
        poolSize: options.command.poolSize,
        sqliteBusyTimeoutMs: config.database.sqliteBusyTimeoutMs,
        mustExist: options.command.mayCreate !== true,
        warn: (fields, message) => logger.warn(fields, message),
      }),
    );
  }
  return sequencedOnItsPool(
    openDatabase(config.database.url, {
      poolSize: config.database.poolSize,
      sqliteBusyTimeoutMs: config.database.sqliteBusyTimeoutMs,
      statementTimeoutMs: config.http.requestTimeoutMs,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      onIdleError: (error) => logger.warn({ err: error }, 'idle database connection failed'),
      warn: (fields, message) => logger.warn(fields, message),
    }),
  );
}

/** PostgreSQL: the Kysely writers' numbering passes go through the pool's sequencer (one round trip each). */
export function sequencedOnItsPool(database: Database): Database {
  if (database.driver.kind === 'postgres') shareSequencer(database.db, database.driver.pool);
  return database;
}

/** Applies pending migrations when ROSTER_MIGRATE_ON_START is on; `onApplied` hears of each. */
export async function migrateIfConfigured(
  config: Config,
  database: Database,
  onApplied: (migration: string, status: string) => void = () => undefined,
): Promise<void> {
  if (!config.database.migrateOnStart) return;
  const { results } = await migrateToLatest(database.db, database.dialect.name);
  for (const r of results ?? []) onApplied(r.migrationName, r.status);
}

/**
 * On PostgreSQL, every process that writes events (the server, `roster import`) tells the other
 * instances after each commit, coalesced (events/sql-commit-notifier.ts); SQLite has one
 * machine and nothing to listen with.
 */
export async function commitNotifier(
  database: Database,
  commits: EventCommits,
  logger: Logger,
): Promise<{ stop(): Promise<void> } | undefined> {
  if (database.dialect.name !== 'postgres') return undefined;
  const { PostgresCommitNotifier } = await import('../events/sql-commit-notifier.js');
  const { notifyEventCommits } = await import('../events/sql-commit-listener.js');
  const notifier = new PostgresCommitNotifier(() => notifyEventCommits(database.db), logger);
  commits.subscribe(notifier.notify);
  return notifier;
}
