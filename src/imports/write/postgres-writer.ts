import type pg from 'pg';
import type { UserBatchRun, UserBatchWriter } from '../../users/batch-store.js';
import { assertLeaseHeld, JobBatchWriter, userBatchRun, type BatchProgress, type WriterJob } from './writer.js';

/**
 * The PostgreSQL BatchWriter of an import: the users through PostgresUserBatchWriter (COPY and
 * set-based SQL on one dedicated pooled connection), and the job's row errors and progress in
 * the same transaction, before the users' events (the last statement, under the sequence lock).
 */
export class PostgresBatchWriter extends JobBatchWriter<pg.PoolClient, Promise<void>> {
  /** `users` builds the users' writer (users/postgres-batch-writer.ts) for this run: the composition root knows both. */
  constructor(options: { job: WriterJob; users: (run: UserBatchRun) => UserBatchWriter<pg.PoolClient, Promise<void>>; now?: () => Date }) {
    const { job, now = () => new Date() } = options;
    super(
      options.users(userBatchRun(job)),
      async (client, p: BatchProgress) => {
        if (p.errors.length > 0) {
          await client.query(
            'insert into import_row_errors (job_id, line, field, reason) select $1::uuid, * from unnest($2::int[], $3::text[], $4::text[])',
            [job.id, p.errors.map((e) => e.line), p.errors.map((e) => e.field ?? null), p.errors.map((e) => e.reason)],
          );
        }
        const progressed = await client.query(
          `update import_jobs set read = read + $1, created = created + $2, updated = updated + $3, skipped = skipped + $4,
           failed = failed + $5, errors_kept = errors_kept + $6, committed_line = $7, updated_at = $8 where id = $9 and lease_owner = $10`,
          [p.read, p.created, p.updated, p.skipped, p.failed, p.errors.length, p.lastLine, now(), job.id, job.leaseOwner],
        );
        assertLeaseHeld(progressed.rowCount ?? 0, job);
      },
      job,
    );
  }
}
