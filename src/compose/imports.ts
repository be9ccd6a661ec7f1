import type { Database } from '../db/database.js';
import type { Batch, BatchOptions } from '../imports/read/batch.js';
import { importBatches, type FrontHalfOptions } from '../imports/read/front-half.js';
import { importBatchesInWorker } from '../imports/read/front-half-worker.js';
import type { Stage } from '../imports/read/rows.js';
import { newUuidV7 } from '../kit/uuid.js';
import { DEFAULT_IMPORT_BATCH, ImportService, SQLITE_IMPORT_BATCH, SQLITE_IMPORT_TRANSACTION } from '../imports/service.js';
import type { TransactionBudget } from '../imports/write/transaction-size.js';
import type { CreatesEncoding } from '../users/sqlite-batch-rows.js';
import { ConnectionLostError } from '../users/errors.js';
import { PostgresUserBatchWriter } from '../users/postgres-batch-writer.js';
import { SqliteUserBatchWriter } from '../users/sqlite-batch-writer.js';
import { PostgresBatchWriter } from '../imports/write/postgres-writer.js';
import { SqliteBatchWriter } from '../imports/write/sqlite-writer.js';
import { SqlImportJobStore } from '../imports/jobs/sql-job-store.js';
import type { BatchWriter, WriterJob } from '../imports/write/writer.js';
import type { ImportMetrics } from '../imports/metrics.js';
import type { JobLeaseOptions } from '../imports/jobs/job-leases.js';

/** What the server and `roster import` choose of their ImportService; the rest comes from the database. */
export interface ImportServiceWiring {
  readonly newId: () => string;
  /** Hears of every committed batch that wrote events (the dispatcher's wake-up, the notifier). */
  readonly onEventsCommitted: () => void;
  readonly onRetry: (error: unknown, attempt: number, delayMs: number) => void;
  readonly leases: Omit<JobLeaseOptions, 'now'>;
  /** The server's instruments; a command has nobody to read them, and leaves prom-client unloaded. */
  readonly metrics?: ImportMetrics;
  /** ROSTER_IMPORT_SQLITE_WORKER: SQLite create runs read the file in a worker thread (importFrontHalf). */
  readonly sqliteWorker?: boolean;
}

/** The ImportService over `database`, wired the same way in `serve` (compose/services.ts) and `roster import` (compose/import-command.ts). */
export function importServiceFor(database: Database, wiring: ImportServiceWiring): ImportService {
  const { onEventsCommitted, metrics, sqliteWorker = false, ...rest } = wiring;
  return new ImportService({
    ...importServiceOptionsFor(database, { onEventsCommitted }),
    ...(sqliteWorker ? { frontHalf: importFrontHalf } : {}),
    ...rest,
    ...(metrics === undefined ? {} : { metrics }),
  });
}

/** What an ImportService needs from the database: job store, batch writer, transaction sizing, transient errors. */
export function importServiceOptionsFor(database: Database, options: { onEventsCommitted?: () => void } = {}) {
  const transaction = importTransactionFor(database);
  const writerFor = batchWriterFor(database);
  const announce = options.onEventsCommitted;
  return {
    jobs: new SqlImportJobStore(database.db, database.dialect, announce),
    writerFor: announce === undefined ? writerFor : announcingCommits(writerFor, announce),
    batch: importBatchFor(database),
    isTransient: isTransientImportError(database),
    ...(transaction === undefined ? {} : { transaction }),
  };
}

/**
 * Each batch's write resolves after its COMMIT (a failed one throws, having written nothing):
 * with per-user events, a batch that wrote users wrote their events too, so the webhook
 * dispatchers hear of it then. A summary import's batches write no event: announcing them woke
 * every instance's dispatcher, through a NOTIFY on PostgreSQL, for nothing to deliver. Its one
 * event, appended with the run's end, is announced by the job store after that commit.
 */
function announcingCommits(writerFor: (job: WriterJob) => BatchWriter, announce: () => void): (job: WriterJob) => BatchWriter {
  return (job) => {
    const writer = writerFor(job);
    return {
      overlapsReading: writer.overlapsReading,
      encoding: writer.encoding,
      async write(batch, signal) {
        const outcome = await writer.write(batch, signal);
        if (!job.dryRun && job.events === 'per-user' && outcome.created + outcome.updated > 0) announce();
        return outcome;
      },
      close: () => writer.close(),
    };
  };
}

/** The batch writer for the database's driver; ids (users without one, events) from `newId`. */
export function batchWriterFor(database: Database, newId: () => string = newUuidV7): (job: WriterJob) => BatchWriter {
  const driver = database.driver;
  return driver.kind === 'sqlite'
    ? (job) =>
        new SqliteBatchWriter({
          connection: driver.connection,
          job,
          users: (run) => new SqliteUserBatchWriter({ db: database.db, connection: driver.connection, run, newId }),
        })
    : // A batch's events are numbered in the round trip that commits it (users/postgres-batch-writer.ts): no pass to wait for.
      (job) => new PostgresBatchWriter({ job, users: (run) => new PostgresUserBatchWriter({ pool: driver.pool, run, newId }) });
}

/** The transaction size for the database (see SQLITE_IMPORT_BATCH and DEFAULT_IMPORT_BATCH). */
export function importBatchFor(database: Database): BatchOptions {
  return database.driver.kind === 'sqlite' ? SQLITE_IMPORT_BATCH : DEFAULT_IMPORT_BATCH;
}

/** The time budget of a transaction, for databases where a batch blocks other writers (SQLite). */
export function importTransactionFor(database: Database): TransactionBudget | undefined {
  return database.driver.kind === 'sqlite' ? SQLITE_IMPORT_TRANSACTION : undefined;
}

/** Errors worth retrying a batch for: the dialect's outages, and a writer connection lost mid-batch. */
export function isTransientImportError(database: Database): (error: unknown) => boolean {
  return (error) => error instanceof ConnectionLostError || database.dialect.isUnavailable(error);
}

/**
 * ROSTER_IMPORT_SQLITE_WORKER's front half: where a run's batches go to a writer that takes them
 * encoded (a SQLite create run: their statements' parameters in one buffer, users/sqlite-batch-rows.ts),
 * it runs in a worker thread, beside the thread that steps SQLite's statements; otherwise on this
 * thread. In a worker and posted as objects the rows had cost the writing thread about what parsing
 * them did (bench/RESULTS.md, "Import front half in a worker thread"); a buffer is transferred.
 * Off by default: it costs a second V8 heap, and leaves another process's writers less room
 * between batches (bench/RESULTS.md, "The SQLite import's front half in a worker thread, its rows as bytes").
 */
export function importFrontHalf(options: FrontHalfOptions, encode: CreatesEncoding | undefined): Stage<Uint8Array, Batch> {
  return encode === undefined ? importBatches(options) : importBatchesInWorker(options, { encode });
}
