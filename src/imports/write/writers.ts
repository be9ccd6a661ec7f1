import type { Database } from '../../db/database.js';
import type { BatchOptions } from '../read/batch.js';
import { pooledUuidv7 } from './ids.js';
import { DEFAULT_IMPORT_BATCH, SQLITE_IMPORT_BATCH, SQLITE_IMPORT_TRANSACTION } from '../service.js';
import type { TransactionBudget } from './transaction-size.js';
import { ConnectionLostError } from '../../users/postgres-batch-writer.js';
import { PostgresBatchWriter } from './postgres-writer.js';
import { SqliteBatchWriter } from './sqlite-writer.js';
import { SqlImportJobStore } from '../jobs/sql-job-store.js';
import type { BatchWriter, WriterJob } from './writer.js';

/** What an ImportService needs from the database: job store, batch writer, transaction sizing, transient errors. */
export function importServiceOptionsFor(database: Database) {
  const transaction = importTransactionFor(database);
  return {
    jobs: new SqlImportJobStore(database.db, database.dialect),
    writerFor: batchWriterFor(database),
    batch: importBatchFor(database),
    isTransient: isTransientImportError(database),
    ...(transaction === undefined ? {} : { transaction }),
  };
}

/** The batch writer for the database's driver; ids (users without one, events) from `newId`. */
export function batchWriterFor(database: Database, newId: () => string = pooledUuidv7()): (job: WriterJob) => BatchWriter {
  const driver = database.driver;
  return driver.kind === 'sqlite'
    ? (job) => new SqliteBatchWriter({ db: database.db, connection: driver.connection, job, newId })
    : (job) => new PostgresBatchWriter({ pool: driver.pool, job, newId });
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
