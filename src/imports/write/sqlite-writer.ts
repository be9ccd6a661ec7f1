import type SQLite from 'better-sqlite3';
import type { UserBatchRun, UserBatchWriter } from '../../users/batch-store.js';
import { assertLeaseHeld, JobBatchWriter, userBatchRun, type BatchProgress, type WriterJob } from './writer.js';

/**
 * The SQLite BatchWriter of an import: the users through SqliteUserBatchWriter (prepared
 * statements stepped synchronously, under Kysely's lock on the single connection), and the
 * job's row errors and progress with prepared statements of its own, in the same transaction.
 */
export class SqliteBatchWriter extends JobBatchWriter<SQLite.Database, void> {
  /** `users` builds the users' writer (users/sqlite-batch-writer.ts) for this run: the composition root knows both. */
  constructor(options: {
    connection: SQLite.Database;
    job: WriterJob;
    users: (run: UserBatchRun) => UserBatchWriter<SQLite.Database, void>;
    now?: () => Date;
  }) {
    const { job, now = () => new Date() } = options;
    const users = options.users(userBatchRun(job));
    const s = prepare(options.connection);
    super(
      users,
      (_tx, p: BatchProgress) => {
        for (const e of p.errors) s.insertRowError.run(job.id, e.line, e.field ?? null, e.reason);
        const at = now().toISOString();
        const progressed = s.progress.run(
          p.read,
          p.created,
          p.updated,
          p.skipped,
          p.failed,
          p.errors.length,
          p.lastLine,
          at,
          job.id,
          job.leaseOwner,
        );
        assertLeaseHeld(progressed.changes, job);
      },
      job,
    );
  }
}

function prepare(connection: SQLite.Database) {
  return {
    insertRowError: connection.prepare('insert into import_row_errors (job_id, line, field, reason) values (?, ?, ?, ?)'),
    progress: connection.prepare(
      `update import_jobs set read = read + ?, created = created + ?, updated = updated + ?, skipped = skipped + ?,
       failed = failed + ?, errors_kept = errors_kept + ?, committed_line = ?, updated_at = ? where id = ? and lease_owner = ?`,
    ),
  };
}
