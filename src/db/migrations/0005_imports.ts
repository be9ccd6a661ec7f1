import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * Import jobs and their row errors. `committed_line` is the last file line of the last
 * committed batch: the writer moves it in the batch's own transaction, so a resumed run skips
 * exactly the lines already written. `users.imported_by` records the job that last wrote a
 * user, so an upsert can tell a repeat of an email this same import already wrote (a duplicate
 * in the file that dedupe could not prove in memory) from a user that existed before it.
 */
export function importsMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = dialect === 'postgres' ? sql`jsonb` : sql`text`;
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('import_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('dry_run', 'integer', (c) => c.notNull())
        /** `--map` and `--ignore-unknown`, so a resumed run reads the file the same way. */
        .addColumn('options', json, (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('spool_path', 'text')
        .addColumn('total_bytes', big)
        .addColumn('read', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('errors_kept', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('committed_line', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('actor', 'text')
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('started_at', time)
        .addColumn('finished_at', time)
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('import_jobs_status').on('import_jobs').column('status').execute();
      await db.schema
        .createTable('import_row_errors')
        .addColumn('job_id', 'text', (c) => c.notNull().references('import_jobs.id').onDelete('cascade'))
        .addColumn('line', 'integer', (c) => c.notNull())
        .addColumn('field', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('import_row_errors_job_line').on('import_row_errors').columns(['job_id', 'line']).execute();
      await db.schema.alterTable('users').addColumn('imported_by', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').dropColumn('imported_by').execute();
      await db.schema.dropTable('import_row_errors').execute();
      await db.schema.dropTable('import_jobs').execute();
    },
  };
}
