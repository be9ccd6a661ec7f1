import { type Kysely, type Selectable, type Updateable } from 'kysely';
import { failOnOutage, type SqlDialect } from '../../db/dialect.js';
import type { ImportJobsTable, Schema } from '../../db/schema.js';
import type { NewEvent } from '../../events/model.js';
import { appendEvent, publishEvents } from '../../events/sql-outbox.js';
import type { EventsMode, ImportJob, ImportMode, ImportSpec, JobStatus, ReadOptions } from './job.js';
import type { ImportFormat } from '../read/parse.js';
import { LeaseLostError } from '../errors.js';
import type { ImportJobStore } from './job-store.js';
import type { RowError } from '../read/rows.js';

/** Row errors are read back in pages of this many lines' worth. */
const ROW_ERROR_PAGE = 1000;

/** The ImportJobStore adapter: import jobs and their stored row errors, over Kysely (SQLite and PostgreSQL). */
export class SqlImportJobStore implements ImportJobStore {
  // Parameter properties: every SQL adapter takes the same two, and spelling them out was the
  // same six lines in each.
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
    /** Hears of the commit that appended a run's summary event (the webhook dispatchers' wake-up). */
    private readonly onEventsCommitted: () => void = () => undefined,
  ) {}

  async create(id: string, spec: ImportSpec, now: Date, signal?: AbortSignal): Promise<ImportJob> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    await failOnOutage(this.dialect, () =>
      this.db
        .insertInto('import_jobs')
        .values({
          id,
          status: 'pending',
          format: spec.format,
          mode: spec.mode,
          events: spec.events,
          dry_run: spec.dryRun ? 1 : 0,
          options: this.dialect.toJson(spec.options),
          source: spec.source,
          spool_path: spec.spoolPath ?? null,
          total_bytes: spec.totalBytes ?? null,
          error: null,
          actor: spec.actor ?? null,
          created_at: at,
          started_at: null,
          finished_at: null,
          updated_at: at,
        })
        .execute(),
    );
    return this.#require(id);
  }

  async get(id: string, signal?: AbortSignal): Promise<ImportJob | undefined> {
    signal?.throwIfAborted();
    const row = await failOnOutage(this.dialect, () =>
      this.db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : this.#toJob(row);
  }

  /** Jobs in any of `statuses`, oldest first (e.g. the ones a restart left running). */
  async listByStatus(statuses: readonly JobStatus[], signal?: AbortSignal): Promise<ImportJob[]> {
    signal?.throwIfAborted();
    const rows = await failOnOutage(this.dialect, () =>
      this.db.selectFrom('import_jobs').selectAll().where('status', 'in', statuses).orderBy('id').execute(),
    );
    return rows.map((row) => this.#toJob(row));
  }

  /** Newest first by id (a UUIDv7 orders by creation), over the primary key: no scan, no count. */
  async listRecent(limit: number, before?: string, signal?: AbortSignal): Promise<ImportJob[]> {
    signal?.throwIfAborted();
    const rows = await failOnOutage(this.dialect, () => {
      let query = this.db.selectFrom('import_jobs').selectAll();
      if (before !== undefined) query = query.where('id', '<', before);
      return query.orderBy('id', 'desc').limit(limit).execute();
    });
    return rows.map((row) => this.#toJob(row));
  }

  /**
   * Takes the job's lease for `owner` until `until` in one conditional UPDATE, so of two
   * processes claiming at once exactly one wins (the row count decides): the lease must be
   * free, expired at `now`, already `owner`'s, or held by `takeOverFrom` (a holder the caller
   * found dead; naming it keeps the takeover from stealing a lease renewed meanwhile by someone
   * else). `unfinishedOnly` also requires the job to be pending or running (a queued job that
   * was cancelled meanwhile must not run). Returns the job as claimed, or undefined.
   */
  async claim(
    id: string,
    owner: string,
    now: Date,
    until: Date,
    options: { takeOverFrom?: string | undefined; unfinishedOnly?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<ImportJob | undefined> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    const result = await failOnOutage(this.dialect, () => {
      let update = this.db
        .updateTable('import_jobs')
        .set({ lease_owner: owner, lease_expires_at: this.dialect.toTime(until) })
        .where('id', '=', id)
        .where((eb) =>
          eb.or([
            eb('lease_owner', 'is', null),
            eb('lease_owner', '=', owner),
            eb('lease_expires_at', '<', at),
            ...(options.takeOverFrom === undefined ? [] : [eb('lease_owner', '=', options.takeOverFrom)]),
          ]),
        );
      if (options.unfinishedOnly) update = update.where('status', 'in', ['pending', 'running']);
      return update.executeTakeFirst();
    });
    return Number(result.numUpdatedRows) === 0 ? undefined : this.#require(id);
  }

  /** Extends `owner`'s lease to `until`; false when the lease is no longer `owner`'s. */
  async renew(id: string, owner: string, until: Date, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('import_jobs')
        .set({ lease_expires_at: this.dialect.toTime(until) })
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) > 0;
  }

  /** Gives `owner`'s lease back (nothing happens if it is no longer `owner`'s). */
  async release(id: string, owner: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('import_jobs')
        .set({ lease_owner: null, lease_expires_at: null })
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .execute(),
    );
  }

  /** Marks the job running; only while `owner` holds its lease. @throws LeaseLostError */
  async markRunning(id: string, owner: string, now: Date, signal?: AbortSignal): Promise<ImportJob> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('import_jobs')
        .set({ status: 'running', started_at: at, finished_at: null, error: null, updated_at: at })
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .executeTakeFirst(),
    );
    if (Number(result.numUpdatedRows) === 0) throw new LeaseLostError(id);
    return this.#require(id);
  }

  /**
   * Records how the run ended and gives the lease back, with its summary event (if any) in the
   * same transaction; only while `owner` holds the lease. @throws LeaseLostError (nothing written)
   */
  async finish(
    id: string,
    owner: string,
    status: JobStatus,
    error: string | undefined,
    now: Date,
    event?: NewEvent,
    signal?: AbortSignal,
  ): Promise<ImportJob> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    return this.#endRun(id, owner, { status, error: error ?? null, finished_at: at, updated_at: at }, event);
  }

  /**
   * Puts a job interrupted by this instance's shutdown back to `pending` and gives the lease
   * back, so the next instance to start (or scan) resumes it at once; with the run's summary
   * event, if any. Only while `owner` holds the lease. @throws LeaseLostError
   */
  async suspend(id: string, owner: string, now: Date, event?: NewEvent, signal?: AbortSignal): Promise<ImportJob> {
    signal?.throwIfAborted();
    return this.#endRun(id, owner, { status: 'pending', updated_at: this.dialect.toTime(now) }, event);
  }

  /** Ends `owner`'s run: sets `changes`, gives the lease back and appends `event`, in one transaction. */
  async #endRun(id: string, owner: string, changes: Updateable<ImportJobsTable>, event: NewEvent | undefined): Promise<ImportJob> {
    await failOnOutage(this.dialect, () =>
      this.db.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('import_jobs')
          .set({ ...changes, lease_owner: null, lease_expires_at: null })
          .where('id', '=', id)
          .where('lease_owner', '=', owner)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) throw new LeaseLostError(id);
        if (event !== undefined) await appendEvent(trx, this.dialect, event);
      }),
    );
    if (event !== undefined) {
      await publishEvents(this.db, this.dialect);
      this.onEventsCommitted();
    }
    return this.#require(id);
  }

  /** Uploaded jobs (with a spooled file) that have not finished, oldest first: candidates for a restart to resume. */
  async listUnfinishedUploads(signal?: AbortSignal): Promise<ImportJob[]> {
    signal?.throwIfAborted();
    const rows = await failOnOutage(this.dialect, () =>
      this.db
        .selectFrom('import_jobs')
        .selectAll()
        .where('status', 'in', ['pending', 'running'])
        .where('spool_path', 'is not', null)
        .orderBy('id')
        .execute(),
    );
    return rows.map((row) => this.#toJob(row));
  }

  /** The stored row errors of a job in line order after `afterLine`, read in pages (constant memory). */
  async *rowErrors(id: string, signal?: AbortSignal, afterLine = 0): AsyncGenerator<RowError, void, undefined> {
    let after = afterLine;
    for (;;) {
      signal?.throwIfAborted();
      const rows = await failOnOutage(this.dialect, () =>
        this.db
          .selectFrom('import_row_errors')
          .select(['line', 'field', 'reason'])
          .where('job_id', '=', id)
          .where('line', '>', after)
          .orderBy('line')
          .limit(ROW_ERROR_PAGE)
          .execute(),
      );
      const full = rows.length === ROW_ERROR_PAGE;
      // A line's errors must not be split across pages: a full page leaves its last line for the next one.
      const last = rows.at(-1)?.line;
      const lastLine = full && rows[0]?.line !== last ? last : undefined;
      for (const row of rows) {
        if (lastLine !== undefined && row.line === lastLine) break;
        yield row.field === null ? { line: row.line, reason: row.reason } : { line: row.line, field: row.field, reason: row.reason };
      }
      if (!full) return;
      after = lastLine === undefined ? (last ?? after) : rows.filter((r) => r.line !== lastLine).at(-1)!.line;
    }
  }

  async #require(id: string): Promise<ImportJob> {
    const job = await this.get(id);
    if (job === undefined) throw new Error(`import job ${id} vanished`);
    return job;
  }

  #toJob(row: Selectable<ImportJobsTable>): ImportJob {
    const time = (value: unknown) => (value === null || value === undefined ? undefined : this.dialect.fromTime(value));
    return {
      id: row.id,
      status: row.status as JobStatus,
      format: row.format as ImportFormat,
      mode: row.mode as ImportMode,
      events: row.events as EventsMode,
      dryRun: Number(row.dry_run) === 1,
      options: this.dialect.fromJson(row.options) as ReadOptions,
      source: row.source,
      spoolPath: row.spool_path ?? undefined,
      totalBytes: row.total_bytes === null ? undefined : Number(row.total_bytes),
      counts: {
        read: Number(row.read),
        created: Number(row.created),
        updated: Number(row.updated),
        skipped: Number(row.skipped),
        failed: Number(row.failed),
      },
      errorsKept: Number(row.errors_kept),
      committedLine: Number(row.committed_line),
      error: row.error ?? undefined,
      actor: row.actor ?? undefined,
      createdAt: this.dialect.fromTime(row.created_at),
      startedAt: time(row.started_at),
      finishedAt: time(row.finished_at),
      updatedAt: this.dialect.fromTime(row.updated_at),
      leaseOwner: row.lease_owner ?? undefined,
      leaseExpiresAt: time(row.lease_expires_at),
    };
  }
}
