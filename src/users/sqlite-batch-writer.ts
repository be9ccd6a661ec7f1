import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { sqliteDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import { SqliteLockWait } from '../db/sqlite-lock.js';
import type { BatchFinding, BatchUser, UserBatchResult, UserBatchRun, UserBatchWriter } from './batch-store.js';
import { changedFields } from './changes.js';
import { userUpdated } from './events.js';
import { foldKey, type User } from './model.js';
import {
  INSERT_COLUMNS,
  SQLITE_INSERT_PLACEHOLDERS,
  SQLITE_UPDATE_ASSIGNMENTS,
  USER_COLUMNS,
  fromUserRow,
  insertValues,
  toUserRow,
  updateValues,
} from './sql-row.js';
import type { StoredUser } from './sqlite-statements.js';
import {
  decodeCreates,
  EncodedReader,
  EMAIL_KEY_PARAMETER,
  EVENT_COLUMNS,
  createdEventParameters,
  eventParameters,
  newUser,
  type CreatesEncoding,
  type EncodedCreates,
} from './sqlite-batch-rows.js';

interface ExistingRow extends StoredUser {
  imported_by: string | null;
}

/**
 * While a batch run writes, the connection's page cache is 32 MiB instead of SQLite's 2 MiB, and
 * the WAL is checkpointed every 10,000 pages (~40 MB) instead of 1,000. A batch inserts emails
 * and names in random order, so it reads and dirties index pages all over the two random-key
 * indexes: with 2 MiB most of those reads miss, and a checkpoint after nearly every commit
 * copies (and syncs) the same hot pages back again and again. Measured with raw inserts into
 * this schema, 1M rows in 20,000-row transactions (2 CPUs): 2 MiB/1,000 pages 83k rows/s,
 * 32 MiB/10,000 pages 116k rows/s, and system time 5.6 → 2.4 s. Both are restored by close().
 */
const BATCH_CACHE_KIB = 32 * 1024;
const BATCH_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * The SQLite UserBatchWriter: statements prepared once and stepped synchronously inside one
 * `transaction()` per batch, under Kysely's lock on the single connection (so no API query
 * interleaves with the raw statements, and the batch holds the write lock only while it runs).
 * Kysely's per-query path costs ~20 µs a statement in promises and planning; stepping prepared
 * statements synchronously is what lets SQLite reach its own bulk speed. `alongside` runs in the
 * same synchronous transaction, so it must not return a promise.
 */
export class SqliteUserBatchWriter implements UserBatchWriter<SQLite.Database, void> {
  readonly #db: Kysely<Schema>;
  readonly #run: UserBatchRun;
  readonly #newId: () => string;
  readonly #now: () => Date;
  readonly #statements: ReturnType<typeof prepare>;
  readonly #connection: SQLite.Database;
  readonly #locks: SqliteLockWait;
  readonly #restore: { cacheSize: number; autocheckpoint: number };
  readonly overlapsReading = false;
  readonly encoding: CreatesEncoding | undefined;

  constructor(options: { db: Kysely<Schema>; connection: SQLite.Database; run: UserBatchRun; newId: () => string; now?: () => Date }) {
    this.#db = options.db;
    this.#connection = options.connection;
    this.#run = options.run;
    this.#newId = options.newId;
    this.#now = options.now ?? (() => new Date());
    this.#statements = prepare(options.connection);
    const { run } = options;
    this.encoding = run.mode === 'create' ? { events: run.events, context: run.context } : undefined;
    this.#locks = SqliteLockWait.of(options.connection);
    this.#restore = {
      cacheSize: options.connection.pragma('cache_size', { simple: true }) as number,
      autocheckpoint: options.connection.pragma('wal_autocheckpoint', { simple: true }) as number,
    };
    options.connection.pragma(`cache_size = ${-BATCH_CACHE_KIB}`);
    options.connection.pragma(`wal_autocheckpoint = ${BATCH_AUTOCHECKPOINT_PAGES}`);
  }

  write(
    users: readonly BatchUser[],
    alongside: (tx: SQLite.Database, result: UserBatchResult) => void,
    signal: AbortSignal,
  ): Promise<UserBatchResult> {
    return this.#transact(() => this.#writeUsers(users, this.#now()), alongside, signal);
  }

  /**
   * A create batch encoded off this thread (sqlite-batch-rows.ts): its rows are already the
   * statements' parameters, so this thread only steps them. A row that does not go in (its email,
   * id or external id taken) gets its finding as in write().
   */
  writeCreates(
    encoded: EncodedCreates,
    alongside: (tx: SQLite.Database, result: UserBatchResult) => void,
    signal: AbortSignal,
  ): Promise<UserBatchResult> {
    const fits = this.#run.mode === 'create' && encoded.events === this.#run.events;
    return this.#transact(
      () => (fits ? this.#insertEncoded(encoded) : this.#writeUsers(decodeCreates(encoded), new Date(encoded.at))),
      alongside,
      signal,
    );
  }

  #insertEncoded(encoded: EncodedCreates): UserBatchResult {
    const { insertUser, insertEvent } = this.#statements;
    const rows = new EncodedReader(encoded, this.#run.id);
    const findings: BatchFinding[] = [];
    while (rows.next()) {
      if (insertUser.run(rows.user).changes === 0)
        findings.push(this.#conflict(rows.batchUser(), rows.user[EMAIL_KEY_PARAMETER] as string));
      else if (encoded.events) insertEvent.run(rows.event);
    }
    return { created: encoded.count - findings.length, updated: 0, skipped: 0, findings };
  }

  // async: an aborted signal rejects the promise, as write() always did, rather than throwing.
  async #transact(
    body: () => UserBatchResult,
    alongside: (tx: SQLite.Database, result: UserBatchResult) => void,
    signal: AbortSignal,
  ): Promise<UserBatchResult> {
    signal.throwIfAborted();
    // Another process's write lock (the server beside a `roster import`, or the reverse) is
    // waited for asynchronously, each attempt under Kysely's lock (db/sqlite-lock.ts).
    return this.#locks.retrying(
      () =>
        this.#db.connection().execute(() => {
          // The lock may have been awaited: a cancel that came meanwhile must not start the batch.
          signal.throwIfAborted();
          const transaction = this.#connection.transaction(() => {
            const written = body();
            const done: unknown = alongside(this.#connection, written);
            if (done instanceof Promise) throw new TypeError('alongside must be synchronous on SQLite: the transaction would commit first');
            return written;
          });
          return Promise.resolve(this.#locks.withoutWaiting(() => transaction.immediate()));
        }),
      signal,
    );
  }

  close(): Promise<void> {
    if (this.#connection.open) {
      this.#connection.pragma(`cache_size = ${this.#restore.cacheSize}`);
      this.#connection.pragma(`wal_autocheckpoint = ${this.#restore.autocheckpoint}`);
    }
    return Promise.resolve();
  }

  #writeUsers(users: readonly BatchUser[], now: Date): UserBatchResult {
    const findings: BatchFinding[] = [];
    let created = 0;
    let updated = 0;
    let skipped = 0;
    for (const row of users) {
      const result = this.#run.mode === 'create' ? this.#create(row, now) : this.#upsert(row, now);
      if (typeof result === 'object') findings.push(result);
      else if (result === 'created') created++;
      else if (result === 'updated') updated++;
      else skipped++;
    }
    return { created, updated, skipped, findings };
  }

  #create(row: BatchUser, now: Date): 'created' | BatchFinding {
    const user = newUser(row, this.#newId, now);
    const r = toUserRow(user, sqliteDialect);
    const result = this.#statements.insertUser.run(...insertValues(r), this.#run.id);
    if (result.changes === 0) return this.#conflict(row, r.email_key);
    if (this.#run.events) this.#statements.insertEvent.run(...createdEventParameters(this.#newId(), user, r, this.#run.context));
    return 'created';
  }

  #upsert(row: BatchUser, now: Date): 'created' | 'updated' | 'skipped' | BatchFinding {
    const s = this.#statements;
    const existing = s.findByEmailKey.get(foldKey(row.user.email)) as ExistingRow | undefined;
    if (existing === undefined) return this.#create(row, now);
    if (row.maybeDuplicate && existing.imported_by === this.#run.id) return { line: row.line, kind: 'duplicate' };
    if (row.user.id !== undefined && row.user.id !== existing.id) return { line: row.line, kind: 'id-mismatch', existingId: existing.id };
    const before = fromUserRow(existing, sqliteDialect);
    if (changedFields(before, row.user).length === 0) {
      if (row.markIfUnchanged === true) s.markWritten.run(this.#run.id, existing.id);
      return 'skipped';
    }
    const { externalId } = row.user;
    if (externalId !== null && externalId !== before.externalId) {
      const holder = s.findByExternalId.get(externalId) as { id: string } | undefined;
      if (holder !== undefined) return { line: row.line, kind: 'external-id-taken', holderId: holder.id };
    }
    const after: User = {
      ...before,
      email: row.user.email,
      name: row.user.name,
      active: row.user.active,
      externalId,
      givenName: row.user.givenName,
      familyName: row.user.familyName,
      attributes: row.user.attributes,
      profile: row.user.profile,
      version: before.version + 1,
      updatedAt: now,
    };
    const r = toUserRow(after, sqliteDialect);
    s.updateUser.run(...updateValues(r), this.#run.id, r.id);
    if (this.#run.events) s.insertEvent.run(...eventParameters(userUpdated(this.#newId(), before, after, this.#run.context)));
    return 'updated';
  }

  #conflict(row: BatchUser, emailKey: string): BatchFinding {
    const holder = this.#statements.findByEmailKey.get(emailKey) as ExistingRow | undefined;
    if (holder === undefined) {
      const { externalId } = row.user;
      const other = externalId === null ? undefined : (this.#statements.findByExternalId.get(externalId) as { id: string } | undefined);
      return other === undefined ? { line: row.line, kind: 'id-taken' } : { line: row.line, kind: 'external-id-taken', holderId: other.id };
    }
    return row.maybeDuplicate && holder.imported_by === this.#run.id
      ? { line: row.line, kind: 'duplicate' }
      : { line: row.line, kind: 'email-taken', holderId: holder.id };
  }
}

function prepare(connection: SQLite.Database) {
  return {
    // No conflict target: a taken id, email or external id leaves the row out (changes = 0).
    insertUser: connection.prepare(
      `insert into users (${INSERT_COLUMNS}, imported_by) values (${SQLITE_INSERT_PLACEHOLDERS}, ?) on conflict do nothing`,
    ),
    findByEmailKey: connection.prepare(`select ${USER_COLUMNS}, imported_by from users where email_key = ?`),
    findByExternalId: connection.prepare('select id from users where external_id = ?'),
    updateUser: connection.prepare(`update users set ${SQLITE_UPDATE_ASSIGNMENTS}, imported_by = ? where id = ?`),
    // Bookkeeping only (see BatchUser.markIfUnchanged): neither version nor updated_at moves.
    markWritten: connection.prepare('update users set imported_by = ? where id = ?'),
    insertEvent: connection.prepare(`insert into events (${EVENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?)`),
  };
}
