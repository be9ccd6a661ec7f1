import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { EventCommits } from '../events/commits.js';
import type { ImportService } from '../imports/service.js';
import { newUuidV7 } from '../kit/uuid.js';
import { commitNotifier, migrateIfConfigured, openConfiguredDatabase } from './database.js';
import { importServiceFor } from './imports.js';

/**
 * The import-only composition: what `roster import` and `roster export` run on, and all they
 * load. buildServices() (compose/services.ts) wires every capability for the server, and
 * loading it costs the idle `roster import` process its modules (the HTTP layer's schemas,
 * the console, SCIM, webhooks, auth, groups, prom-client): bench/import-rss.ts measures the
 * difference. The ImportService is wired by the same importServiceFor() as the server's.
 */
export interface ImportCommandServices {
  readonly database: Database;
  readonly imports: ImportService;
  /** Stops the commit notifier (PostgreSQL), then closes the database. */
  close(): Promise<void>;
}

/** A one-off command's connections: an import holds one for its batches, and its job's lease renewals and record use another (PostgreSQL). */
const COMMAND_POOL_SIZE = 2;

/**
 * Opens the configured database as a one-off command does (a SQLite file that does not exist
 * is refused, see CommandDatabase), and applies pending migrations when ROSTER_MIGRATE_ON_START
 * is on, as buildServices() does for the other commands. On failure the database is closed.
 */
export async function openCommandDatabase(config: Config): Promise<Database> {
  const database = openConfiguredDatabase(config, { warn: () => undefined }, { command: { poolSize: COMMAND_POOL_SIZE } });
  try {
    await migrateIfConfigured(config, database);
    return database;
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/**
 * The database and an ImportService over it, for `roster import`. On PostgreSQL its batches'
 * commits are announced to the other instances (their webhook dispatchers wake), as the
 * server's are. `report` receives the lines a server would log as warnings (a batch retried,
 * a lease renewal that failed).
 */
export async function buildImportCommand(config: Config, report: (line: string) => void): Promise<ImportCommandServices> {
  const database = await openCommandDatabase(config);
  const commits = new EventCommits();
  let notifier: { stop(): Promise<void> } | undefined;
  try {
    // Only PostgreSQL has a notifier, and only it loads the logger the notifier takes (silent, as a command's log is).
    if (database.dialect.name === 'postgres') {
      const { createLogger } = await import('../observability/logger.js');
      notifier = await commitNotifier(database, commits, createLogger('silent'));
    }
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
  const imports = importServiceFor(database, {
    newId: newUuidV7,
    onEventsCommitted: commits.announce,
    onRetry: (error, attempt, delayMs) => report(`batch failed (${(error as Error).message}); retry ${attempt} in ${delayMs} ms`),
    sqliteWorker: config.imports.sqliteWorker,
    leases: {
      leaseMs: config.imports.leaseMs,
      onRenewError: (error) => report(`import lease renewal failed (${(error as Error).message}); retrying`),
    },
  });
  return {
    database,
    imports,
    async close() {
      await notifier?.stop();
      await database.close();
    },
  };
}
