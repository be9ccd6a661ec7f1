import type { Database } from '../db/database.js';
import { pooledUuidv7 } from './ids.js';
import { PostgresBatchWriter } from './postgres-writer.js';
import { SqliteBatchWriter } from './sqlite-writer.js';
import type { BatchWriter, WriterJob } from './writer.js';

/** The batch writer for the database's driver; ids (users without one, events) from `newId`. */
export function batchWriterFor(database: Database, newId: () => string = pooledUuidv7()): (job: WriterJob) => BatchWriter {
  const driver = database.driver;
  return driver.kind === 'sqlite'
    ? (job) => new SqliteBatchWriter({ db: database.db, connection: driver.connection, job, newId })
    : (job) => new PostgresBatchWriter({ pool: driver.pool, job, newId });
}
