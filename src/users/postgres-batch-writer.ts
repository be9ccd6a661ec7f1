import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ROW_ERRORS_KEPT_PER_JOB } from '../db/migrations/0005_imports.js';
import { EVENT_SEQUENCE_LOCK } from '../events/sql-outbox.js';
import { foldKey } from '../users/model.js';
import type { Batch } from './batch.js';
import type { RowError, ValidRow } from './rows.js';
import {
  assertLeaseHeld,
  batchErrors,
  errorsToKeep,
  ROW_ERROR_REASONS,
  type BatchOutcome,
  type BatchWriter,
  type WriterJob,
} from './writer.js';

/** A batch may take longer than an API request; it is bounded on its own. */
const BATCH_STATEMENT_TIMEOUT = '120s';
/** COPY text is handed to the socket in pieces of about this many characters. */
const COPY_CHUNK_CHARS = 64 * 1024;

const STAGING = `create temp table import_staging (
  line integer not null, id text not null, given_id boolean not null, email text not null, email_key text not null,
  name text not null, name_key text not null, attributes jsonb not null, maybe boolean not null, mark boolean not null,
  event_id text not null,
  existing_id text, old_email text, old_name text, old_attributes jsonb, old_version integer, old_created_at timestamptz,
  old_imported_by text, outcome text
) on commit drop`;
const COPY_COLUMNS = 'line, id, given_id, email, email_key, name, name_key, attributes, maybe, mark, event_id';

/** `created_at`/`updated_at` as toISOString() writes them, so event snapshots match the API's. */
const ISO = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The PostgreSQL batch writer, on one dedicated pooled connection: per batch, in one
 * transaction, COPY the rows into a temporary staging table, then set-based statements insert
 * (`on conflict do nothing`), or match by email and update, every row at once; row errors and
 * the job's progress follow, and the events last, under the advisory lock that orders event
 * sequences (held only for that insert and the commit). A row per statement would cost a
 * round trip each; COPY and one statement per step keep the batch to a handful.
 */
export class PostgresBatchWriter implements BatchWriter {
  readonly #pool: pg.Pool;
  readonly #job: WriterJob;
  readonly #newId: () => string;
  readonly #now: () => Date;
  #client: pg.PoolClient | undefined;
  /** Set when the held connection died (its backend terminated, a failover): it is dropped, not reused. */
  #clientError: Error | undefined;
  #errorsKept: number;
  readonly overlapsReading = true;

  constructor(options: { pool: pg.Pool; job: WriterJob; newId: () => string; now?: () => Date }) {
    this.#pool = options.pool;
    this.#job = options.job;
    this.#newId = options.newId;
    this.#now = options.now ?? (() => new Date());
    this.#errorsKept = options.job.errorsKept;
  }

  async write(batch: Batch, signal: AbortSignal): Promise<BatchOutcome> {
    signal.throwIfAborted();
    const client = await this.#connect();
    try {
      await client.query('begin');
      await client.query(`set local statement_timeout = '${BATCH_STATEMENT_TIMEOUT}'`);
      const result = await this.#writeBatch(client, batch, signal);
      // The last moment a cancel can still undo the batch.
      signal.throwIfAborted();
      await client.query('commit');
      this.#errorsKept += result.kept;
      return result.outcome;
    } catch (error) {
      try {
        await client.query('rollback');
      } catch {
        // The connection is gone (or unusable): drop it; a retry takes a new one. pg reports a
        // query on a connection that already failed as "not queryable", which is not one of
        // the outage errors the dialect knows, so it is named here.
        this.#drop(client, error);
        throw new ConnectionLostError('The PostgreSQL connection was lost during an import batch; nothing of it was committed.', {
          cause: error,
        });
      }
      throw error;
    }
  }

  close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    // Released with its error, if it had one, so the pool discards it.
    if (client !== undefined) this.#drop(client, this.#clientError ?? false);
    return Promise.resolve();
  }

  async #connect(): Promise<pg.PoolClient> {
    // A connection that died between batches is given back with its error and replaced, so
    // the next batch does not spend one of its retries finding out.
    if (this.#client !== undefined && this.#clientError !== undefined) this.#drop(this.#client, this.#clientError);
    if (this.#client !== undefined) return this.#client;
    const client = await this.#pool.connect();
    this.#clientError = undefined;
    // A terminated backend makes a checked-out client emit 'error'; the failing query reports
    // it to the batch in progress, and the connection is remembered as dead.
    client.on('error', this.#onClientError);
    this.#client = client;
    return client;
  }

  readonly #onClientError = (error: Error): void => {
    this.#clientError = error;
  };

  /** Gives the connection back: with an error (or true) the pool discards it, with false it is reused. */
  #drop(client: pg.PoolClient, error: unknown): void {
    if (this.#client === client) this.#client = undefined;
    this.#clientError = undefined;
    client.off('error', this.#onClientError);
    client.release(error === false ? undefined : error instanceof Error ? error : true);
  }

  async #writeBatch(client: pg.PoolClient, batch: Batch, signal: AbortSignal): Promise<{ outcome: BatchOutcome; kept: number }> {
    const job = this.#job;
    const now = this.#now();
    const found: RowError[] = [];
    const counts = { created: 0, updated: 0, skipped: 0 };
    if (job.dryRun) counts.skipped = batch.rows.length;
    else if (batch.rows.length > 0) {
      const staged = this.#stageable(batch.rows, found);
      await client.query(STAGING);
      await pipeline(
        Readable.from(copyText(staged, this.#newId)),
        client.query(copyFrom(`copy import_staging (${COPY_COLUMNS}) from stdin`)),
      );
      signal.throwIfAborted();
      if (job.mode === 'upsert') await this.#matchAndUpdate(client, now);
      await this.#insertNew(client, now);
      found.push(...(await this.#failures(client)));
      const outcomes = await client.query<{ outcome: string | null; n: string }>(
        'select outcome, count(*) as n from import_staging group by outcome',
      );
      for (const { outcome, n } of outcomes.rows) {
        if (outcome === 'created') counts.created += Number(n);
        else if (outcome === 'updated') counts.updated += Number(n);
        else if (outcome === 'skipped') counts.skipped += Number(n);
      }
    }
    const errors = batchErrors(batch, found);
    const kept = errorsToKeep(this.#errorsKept, errors.length, ROW_ERRORS_KEPT_PER_JOB);
    if (kept > 0) {
      const keep = errors.slice(0, kept);
      await client.query(
        'insert into import_row_errors (job_id, line, field, reason) select $1, * from unnest($2::int[], $3::text[], $4::text[])',
        [job.id, keep.map((e) => e.line), keep.map((e) => e.field ?? null), keep.map((e) => e.reason)],
      );
    }
    const failed = batch.rejected.length + found.length;
    const read = batch.rows.length + batch.rejected.length;
    const progressed = await client.query(
      `update import_jobs set read = read + $1, created = created + $2, updated = updated + $3, skipped = skipped + $4,
       failed = failed + $5, errors_kept = errors_kept + $6, committed_line = $7, updated_at = $8 where id = $9 and lease_owner = $10`,
      [read, counts.created, counts.updated, counts.skipped, failed, kept, batch.lastLine, now, job.id, job.leaseOwner],
    );
    assertLeaseHeld(progressed.rowCount ?? 0, job);
    if (!job.dryRun && job.events === 'per-user' && counts.created + counts.updated > 0) await this.#events(client, now);
    return { outcome: { read, ...counts, failed, errors: found }, kept };
  }

  /**
   * Rows that may enter the staging table. A statement must not meet one email twice, and
   * dedupe lets through repeats it could not prove (maybeDuplicate): a repeat within the batch
   * is a duplicate row error here; one across batches is caught by the database.
   */
  #stageable(rows: readonly ValidRow[], found: RowError[]): ValidRow[] {
    const seen = new Set<string>();
    const staged: ValidRow[] = [];
    for (const row of rows) {
      const key = foldKey(row.user.email);
      if (seen.has(key)) found.push({ line: row.line, field: 'email', reason: ROW_ERROR_REASONS.duplicateInFile });
      else {
        seen.add(key);
        staged.push(row);
      }
    }
    return staged;
  }

  async #matchAndUpdate(client: pg.PoolClient, now: Date): Promise<void> {
    await client.query('select 1 from users where email_key in (select email_key from import_staging) for update');
    await client.query(`update import_staging s set existing_id = u.id, old_email = u.email, old_name = u.name,
      old_attributes = u.attributes, old_version = u.version, old_created_at = u.created_at, old_imported_by = u.imported_by
      from users u where u.email_key = s.email_key`);
    await client.query(
      `update import_staging set outcome = case
         when maybe and old_imported_by = $1 then 'duplicate'
         when given_id and id <> existing_id then 'id-mismatch'
         when email = old_email and name = old_name and attributes = old_attributes then 'skipped'
         else 'updated' end
       where existing_id is not null`,
      [this.#job.id],
    );
    await client.query(
      `update users u set email = s.email, email_key = s.email_key, name = s.name, name_key = s.name_key, attributes = s.attributes,
         version = u.version + 1, updated_at = $1, imported_by = $2
       from import_staging s where s.outcome = 'updated' and u.id = s.existing_id`,
      [now, this.#job.id],
    );
    // Bookkeeping only (see ValidRow.markIfUnchanged): neither version nor updated_at moves.
    await client.query(
      `update users u set imported_by = $1 from import_staging s where s.outcome = 'skipped' and s.mark and u.id = s.existing_id`,
      [this.#job.id],
    );
  }

  async #insertNew(client: pg.PoolClient, now: Date): Promise<void> {
    await client.query(
      `with inserted as (
         insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at, imported_by)
         select id, email, email_key, name, name_key, attributes, 1, $1, $1, $2 from import_staging
         where existing_id is null order by line
         on conflict do nothing
         returning id, email_key)
       update import_staging s set outcome = 'created' from inserted i where i.id = s.id and i.email_key = s.email_key`,
      [now, this.#job.id],
    );
  }

  async #failures(client: pg.PoolClient): Promise<RowError[]> {
    const { rows } = await client.query<{
      line: number;
      outcome: string | null;
      existing_id: string | null;
      maybe: boolean;
      holder: string | null;
      holder_job: string | null;
    }>(
      `select s.line, s.outcome, s.existing_id, s.maybe, u.id as holder, u.imported_by as holder_job
       from import_staging s left join users u on u.email_key = s.email_key
       where s.outcome is null or s.outcome in ('duplicate', 'id-mismatch') order by s.line`,
    );
    return rows.map((row): RowError => {
      if (row.outcome === 'id-mismatch')
        return { line: row.line, field: 'id', reason: ROW_ERROR_REASONS.idMismatch(row.existing_id ?? '') };
      if (row.outcome === 'duplicate' || (row.maybe && row.holder_job === this.#job.id)) {
        return { line: row.line, field: 'email', reason: ROW_ERROR_REASONS.duplicateInFile };
      }
      if (row.holder !== null) return { line: row.line, field: 'email', reason: ROW_ERROR_REASONS.emailTaken(row.holder) };
      return { line: row.line, field: 'id', reason: ROW_ERROR_REASONS.idTaken };
    });
  }

  /** The per-user events, last: the advisory lock is then held only for this insert and the commit. */
  async #events(client: pg.PoolClient, now: Date): Promise<void> {
    const iso = now.toISOString();
    await client.query('select pg_advisory_xact_lock($1)', [EVENT_SEQUENCE_LOCK]);
    await client.query(
      `insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
       select s.event_id, case when s.outcome = 'created' then 'user.created' else 'user.updated' end, $1, $2, null,
         coalesce(s.existing_id, s.id),
         case when s.outcome = 'created' then jsonb_build_object('user', jsonb_build_object('id', s.id, 'email', s.email,
           'name', s.name, 'attributes', s.attributes, 'version', 1, 'created_at', $3::text, 'updated_at', $3::text))
         else jsonb_build_object(
           'user', jsonb_build_object('id', s.existing_id, 'email', s.email, 'name', s.name, 'attributes', s.attributes,
             'version', s.old_version + 1, 'created_at', ${ISO('s.old_created_at')}, 'updated_at', $3::text),
           'changed', to_jsonb(array_remove(array[
             case when s.email <> s.old_email then 'email' end,
             case when s.name <> s.old_name then 'name' end,
             case when s.attributes <> s.old_attributes then 'attributes' end], null)),
           'previous',
             (case when s.email <> s.old_email then jsonb_build_object('email', s.old_email) else '{}'::jsonb end)
             || (case when s.name <> s.old_name then jsonb_build_object('name', s.old_name) else '{}'::jsonb end)
             || (case when s.attributes <> s.old_attributes then jsonb_build_object('attributes', s.old_attributes) else '{}'::jsonb end))
         end
       from import_staging s where s.outcome in ('created', 'updated') order by s.line`,
      [now, this.#job.context.actor ?? null, iso],
    );
  }
}

/** The writer's connection failed mid-batch (the batch rolled back with it): worth a retry on a new one. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
}

/** The rows as COPY text format, in pieces. */
function* copyText(rows: readonly ValidRow[], newId: () => string): Generator<string, void, undefined> {
  let text = '';
  for (const row of rows) {
    const user = row.user;
    text +=
      `${row.line}\t${user.id ?? newId()}\t${user.id === undefined ? 'f' : 't'}\t${copyEscape(user.email)}\t` +
      `${copyEscape(foldKey(user.email))}\t${copyEscape(user.name)}\t${copyEscape(foldKey(user.name))}\t` +
      `${copyEscape(JSON.stringify(user.attributes))}\t${row.maybeDuplicate ? 't' : 'f'}\t${row.markIfUnchanged === true ? 't' : 'f'}\t${newId()}\n`;
    if (text.length >= COPY_CHUNK_CHARS) {
      yield text;
      text = '';
    }
  }
  if (text !== '') yield text;
}

/** COPY text format: backslash, tab, newline and carriage return are escaped (names and attributes may hold them). */
export function copyEscape(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)
    : value;
}
