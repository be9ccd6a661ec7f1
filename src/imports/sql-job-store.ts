import { type Kysely, type Selectable } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { ImportJobsTable, Schema } from '../db/schema.js';
import type { NewEvent } from '../events/model.js';
import { appendEvent } from '../events/sql-outbox.js';
import type { EventsMode, ImportJob, ImportMode, ImportSpec, JobStatus, ReadOptions } from './job.js';
import type { ImportFormat } from './parse.js';
import type { RowError } from './rows.js';

/** Row errors are read back in pages of this many lines' worth. */
const ROW_ERROR_PAGE = 1000;

/** Import jobs and their stored row errors, over Kysely (SQLite and PostgreSQL). */
export class SqlImportJobStore {
  readonly #db: Kysely<Schema>;
  readonly #dialect: SqlDialect;

  constructor(db: Kysely<Schema>, dialect: SqlDialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async create(id: string, spec: ImportSpec, now: Date): Promise<ImportJob> {
    const at = this.#dialect.toTime(now);
    await failOnOutage(this.#dialect, () =>
      this.#db
        .insertInto('import_jobs')
        .values({
          id,
          status: 'pending',
          format: spec.format,
          mode: spec.mode,
          events: spec.events,
          dry_run: spec.dryRun ? 1 : 0,
          options: this.#dialect.toJson(spec.options),
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

  async get(id: string): Promise<ImportJob | undefined> {
    const row = await failOnOutage(this.#dialect, () =>
      this.#db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : this.#toJob(row);
  }

  /** Jobs in any of `statuses`, oldest first (e.g. the ones a restart left running). */
  async listByStatus(statuses: readonly JobStatus[]): Promise<ImportJob[]> {
    const rows = await failOnOutage(this.#dialect, () =>
      this.#db.selectFrom('import_jobs').selectAll().where('status', 'in', statuses).orderBy('id').execute(),
    );
    return rows.map((row) => this.#toJob(row));
  }

  async markRunning(id: string, now: Date): Promise<ImportJob> {
    const at = this.#dialect.toTime(now);
    await failOnOutage(this.#dialect, () =>
      this.#db
        .updateTable('import_jobs')
        .set({ status: 'running', started_at: at, finished_at: null, error: null, updated_at: at })
        .where('id', '=', id)
        .execute(),
    );
    return this.#require(id);
  }

  /** Records how the run ended, with its summary event (if any) in the same transaction. */
  async finish(id: string, status: JobStatus, error: string | undefined, now: Date, event?: NewEvent): Promise<ImportJob> {
    const at = this.#dialect.toTime(now);
    await failOnOutage(this.#dialect, () =>
      this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('import_jobs')
          .set({ status, error: error ?? null, finished_at: at, updated_at: at })
          .where('id', '=', id)
          .execute();
        if (event !== undefined) await appendEvent(trx, this.#dialect, event);
      }),
    );
    return this.#require(id);
  }

  /** The stored row errors of a job in line order, read in pages (constant memory). */
  async *rowErrors(id: string, signal?: AbortSignal): AsyncGenerator<RowError, void, undefined> {
    let after = 0;
    for (;;) {
      signal?.throwIfAborted();
      const rows = await failOnOutage(this.#dialect, () =>
        this.#db
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
    const time = (value: unknown) => (value === null || value === undefined ? undefined : this.#dialect.fromTime(value));
    return {
      id: row.id,
      status: row.status as JobStatus,
      format: row.format as ImportFormat,
      mode: row.mode as ImportMode,
      events: row.events as EventsMode,
      dryRun: Number(row.dry_run) === 1,
      options: this.#dialect.fromJson(row.options) as ReadOptions,
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
      createdAt: this.#dialect.fromTime(row.created_at),
      startedAt: time(row.started_at),
      finishedAt: time(row.finished_at),
      updatedAt: this.#dialect.fromTime(row.updated_at),
    };
  }
}
