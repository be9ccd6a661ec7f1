import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { outageError, sqliteDialect } from '../db/dialect.js';
import type { RawStatement, StatementObserver } from '../db/instrumentation.js';
import type { Schema } from '../db/schema.js';
import { SqliteTurns } from '../db/sqlite-turns.js';
import { allObserved, getObserved, runObserved } from '../db/sqlite-steps.js';
import type { NewEvent } from '../events/model.js';
import type { Cancellation } from '../kit/deadline.js';
import { parseIsoTimestamp } from '../kit/iso-time.js';
import { toEventRow } from '../events/sql-outbox.js';
import { UserNotFoundError } from './errors.js';
import { conflictOf } from './sql-conflicts.js';
import type { User, UserId } from './model.js';
import type { IdempotencyRecord, KeyRangeQuery, UserPageQuery, UserStore } from './service.js';
import type { Keyed, KeyedUser } from './search.js';
import {
  fromUserRow,
  fromUserSnapshot,
  insertValues,
  storedUserColumnsOf,
  toUserRow,
  toUserSnapshot,
  updateValues,
  userJsonOfRow,
} from './sql-row.js';
import type { ListedUserJson, UserJson } from './document.js';
import {
  listStatementOf,
  prepareUserStatements,
  searchStatementOf,
  type Prepared,
  type StoredIdempotency,
  SEARCH_KEYS_AT,
  type StoredUserValues,
  type UserStatements,
} from './sqlite-statements.js';

export interface SqliteUserStoreOptions {
  /** Only for its lock on the one connection (see #exclusively()). */
  readonly db: Kysely<Schema>;
  /** The connection under `db` (Database.driver.connection). */
  readonly connection: SQLite.Database;
  /** Where each statement's duration (and, in a recording trace, its span) goes: Database.observeStatement. */
  readonly observe: StatementObserver;
  /** Called after each committed change that appended an event (events/commits.ts), never after a rollback. */
  readonly onEventsCommitted?: (() => void) | undefined;
  /**
   * Runs inside a user's deletion, before the row goes, on the same connection: removes what
   * other capabilities keep about the user (groups' memberships) and appends their events, so
   * one transaction covers all of it. The composition root provides it (compose/users.ts).
   */
  readonly onDelete?: ((userId: UserId, deleted: NewEvent) => void) | undefined;
}

/** The COMMIT of a change's transaction, recorded under the table every change writes. */
const COMMIT: RawStatement = { operation: 'other', table: 'users', text: 'commit' };

/**
 * How a page's rows are read: as Users from their columns, or as their ids and the documents
 * SQLite wrote (SQLITE_LISTED_USER_COLUMNS); `keysAt` is where a search row's keys follow.
 */
interface RowReading<U> {
  readonly json: boolean;
  readonly keysAt: number;
  readonly read: (row: StoredUserValues) => U;
}

const AS_USERS: RowReading<User> = {
  json: false,
  keysAt: SEARCH_KEYS_AT,
  read: (row) => fromUserRow(storedUserColumnsOf(row), sqliteDialect),
};

/** A listed row is its id and document (SQLITE_LISTED_USER_COLUMNS), then a search's keys. */
const LISTED_KEYS_AT = 2;

/**
 * The UserStore adapter for SQLite: statements prepared once and stepped synchronously, each
 * change in one synchronous transaction (the user, its event, its idempotency record). Through
 * Kysely a create was five awaited queries, each built, compiled and logged anew, under Kysely's
 * lock the whole time; here it is one call that nothing can interleave with.
 *
 * The connection is shared with Kysely (the other stores, the import's job bookkeeping), which
 * holds transactions open across awaits: every step takes its turn through SqliteTurns
 * (db/sqlite-turns.ts says how), as the groups store's do.
 */
export class SqliteUserStore implements UserStore {
  readonly #observe: StatementObserver;
  readonly #s: UserStatements;
  readonly #onEventsCommitted: (() => void) | undefined;
  readonly #onDelete: ((userId: UserId, deleted: NewEvent) => void) | undefined;
  /** Set by the last line of each transaction's body: what the wrapper does after it is the COMMIT. */
  #commitStartedAt = 0;
  readonly #turns: SqliteTurns;
  // Wrapped once: better-sqlite3 runs each as BEGIN … COMMIT, or ROLLBACK when the body throws.
  readonly #createTx: SQLite.Transaction<(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent) => void>;
  readonly #updateTx: SQLite.Transaction<
    (id: UserId, change: (current: User) => User, describe: (before: User, after: User) => NewEvent) => User
  >;
  readonly #deleteTx: SQLite.Transaction<(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent) => void>;

  constructor(options: SqliteUserStoreOptions) {
    this.#observe = options.observe;
    this.#onEventsCommitted = options.onEventsCommitted;
    this.#onDelete = options.onDelete;
    this.#s = prepareUserStatements(options.connection);
    this.#turns = new SqliteTurns(
      options.db,
      options.connection,
      (error) => conflictOf(sqliteDialect, error) ?? outageError(sqliteDialect, error),
    );
    this.#createTx = options.connection.transaction(this.#createIn.bind(this));
    this.#updateTx = options.connection.transaction(this.#updateIn.bind(this));
    this.#deleteTx = options.connection.transaction(this.#deleteIn.bind(this));
  }

  // Every change runs as BEGIN IMMEDIATE: the write lock is taken (waiting out the busy timeout)
  // before the read of a read-modify-write, so another process (an import CLI) committing in
  // between cannot make the upgrade fail with SQLITE_BUSY_SNAPSHOT.

  async create(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent, signal?: Cancellation): Promise<void> {
    signal?.throwIfAborted();
    return this.#turns.write(() => this.#committed(() => this.#createTx.immediate(user, idempotency, event)), signal);
  }

  async findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<IdempotencyRecord | undefined> {
    signal?.throwIfAborted();
    const row = await this.#turns.run(() => this.#get<StoredIdempotency>(this.#s.findIdempotency, scope, key, now.toISOString()), signal);
    if (row === undefined) return undefined;
    return {
      scope: row.scope,
      key: row.key,
      fingerprint: row.fingerprint,
      user: fromUserSnapshot(row.result),
      expiresAt: parseIsoTimestamp(row.expires_at),
    };
  }

  async get(id: UserId, signal?: Cancellation): Promise<User | undefined> {
    signal?.throwIfAborted();
    const row = await this.#turns.run(() => this.#get<StoredUserValues>(this.#s.getUser, id), signal);
    return row === undefined ? undefined : fromUserRow(storedUserColumnsOf(row), sqliteDialect);
  }

  /** Written by SQLite from the row (users/sqlite-wire.ts); a row whose stored text does not splice is read and written here. */
  async getJson(id: UserId, signal?: Cancellation): Promise<UserJson | undefined> {
    signal?.throwIfAborted();
    return this.#turns.run(() => {
      const written = this.#get<readonly [number, string | null]>(this.#s.getUserJson, id);
      if (written === undefined) return undefined;
      const [version, json] = written;
      return json === null ? this.#writtenHere(id) : { version, json };
    }, signal);
  }

  /** The document SQLite did not write (the stored text does not splice), from the row; call it in the turn that found the row. */
  #writtenHere(id: UserId): UserJson | undefined {
    const row = this.#get<StoredUserValues>(this.#s.getUser, id);
    return row === undefined ? undefined : userJsonOfRow(storedUserColumnsOf(row), sqliteDialect);
  }

  // Read inside the turn that ran the page's statement, so the row it found is still there.
  readonly #asDocuments: RowReading<ListedUserJson> = {
    json: true,
    keysAt: LISTED_KEYS_AT,
    read: (row) => {
      const id = row[0] as UserId;
      return { id, json: (row[1] as string | null) ?? this.#writtenHere(id)!.json };
    },
  };

  list(query: UserPageQuery, signal?: Cancellation): Promise<User[]> {
    return this.#list(query, AS_USERS, signal);
  }

  /** Each user's document written by SQLite (users/sqlite-wire.ts), as getJson()'s. */
  listJson(query: UserPageQuery, signal?: Cancellation): Promise<ListedUserJson[]> {
    return this.#list(query, this.#asDocuments, signal);
  }

  /** A page's rows, each read as `reading` reads one: list() and listJson() differ only in that. */
  async #list<U>(query: UserPageQuery, reading: RowReading<U>, signal: Cancellation | undefined): Promise<U[]> {
    signal?.throwIfAborted();
    const { shape, params } = listStatementOf(query);
    // Read in the turn that ran the statement: a document SQLite did not write is read from its row then.
    return this.#turns.run(() => this.#all<StoredUserValues>(this.#s.list(shape, reading.json), params).map(reading.read), signal);
  }

  async skip(afterId: UserId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: UserId | undefined }> {
    signal?.throwIfAborted();
    return this.#turns.run(() => {
      const nth = this.#get<{ id: UserId }>(this.#s.skipTo, afterId ?? '', n - 1);
      if (nth !== undefined) return { passed: n, last: nth.id };
      const rest = this.#get<{ passed: number; last: UserId | null }>(this.#s.skipRest, afterId ?? '', n)!;
      return { passed: rest.passed, last: rest.last ?? undefined };
    }, signal);
  }

  search(query: KeyRangeQuery, signal?: Cancellation): Promise<KeyedUser[]> {
    return this.#search(query, AS_USERS, signal);
  }

  searchJson(query: KeyRangeQuery, signal?: Cancellation): Promise<Keyed<ListedUserJson>[]> {
    return this.#search(query, this.#asDocuments, signal);
  }

  /** A scan's rows, each user read as `reading` reads one, with its keys: search() and searchJson() differ only in that. */
  async #search<U extends { readonly id: string }>(
    query: KeyRangeQuery,
    reading: RowReading<U>,
    signal: Cancellation | undefined,
  ): Promise<Keyed<U>[]> {
    signal?.throwIfAborted();
    const { shape, params } = searchStatementOf(query);
    return this.#turns.run(
      () =>
        this.#all<StoredUserValues>(this.#s.search(shape, reading.json), params).map((row) => ({
          user: reading.read(row),
          emailKey: row[reading.keysAt] as string,
          nameKey: row[reading.keysAt + 1] as string,
        })),
      signal,
    );
  }

  async update(
    id: UserId,
    change: (current: User) => User,
    describe: (before: User, after: User) => NewEvent,
    signal?: Cancellation,
  ): Promise<User> {
    signal?.throwIfAborted();
    return this.#turns.write(() => this.#committed(() => this.#updateTx.immediate(id, change, describe)), signal);
  }

  async delete(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent, signal?: Cancellation): Promise<void> {
    signal?.throwIfAborted();
    return this.#turns.write(() => this.#committed(() => this.#deleteTx.immediate(id, check, describe)), signal);
  }

  async purgeIdempotency(now: Date, limit: number, signal?: Cancellation): Promise<number> {
    signal?.throwIfAborted();
    return this.#turns.write(() => this.#run(this.#s.purgeIdempotency, now.toISOString(), limit).changes, signal);
  }

  #createIn(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent): void {
    const s = this.#s;
    // The key goes in first, as on PostgreSQL; on SQLite nothing runs concurrently anyway.
    if (idempotency !== undefined) {
      const now = user.createdAt.toISOString();
      this.#run(s.deleteExpiredIdempotency, idempotency.scope, idempotency.key, now);
      const result = toUserSnapshot(idempotency.user);
      this.#run(
        s.insertIdempotency,
        idempotency.scope,
        idempotency.key,
        idempotency.fingerprint,
        result,
        now,
        idempotency.expiresAt.toISOString(),
      );
    }
    const r = toUserRow(user, sqliteDialect);
    this.#run(s.insertUser, ...insertValues(r));
    this.#appendEvent(event);
    this.#commitStartedAt = performance.now();
  }

  #updateIn(id: UserId, change: (current: User) => User, describe: (before: User, after: User) => NewEvent): User {
    const before = this.#current(id);
    const after = change(before);
    if (after === before) return before;
    const r = toUserRow(after, sqliteDialect);
    this.#run(this.#s.updateUser, ...updateValues(r), id);
    this.#appendEvent(describe(before, after));
    this.#commitStartedAt = performance.now();
    return after;
  }

  #deleteIn(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent): void {
    const current = this.#current(id);
    check(current);
    const event = describe(current);
    this.#onDelete?.(id, event);
    this.#run(this.#s.deleteUser, id);
    this.#appendEvent(event);
    this.#commitStartedAt = performance.now();
  }

  #current(id: UserId): User {
    const row = this.#get<StoredUserValues>(this.#s.getUser, id);
    if (row === undefined) throw new UserNotFoundError(`No user has id ${id}.`);
    return fromUserRow(storedUserColumnsOf(row), sqliteDialect);
  }

  /** The outbox row (events/sql-outbox.ts toEventRow()), in the change's own transaction. */
  #appendEvent(event: NewEvent): void {
    const e = toEventRow(event, sqliteDialect);
    this.#run(this.#s.insertEvent, e.id, e.type, e.occurred_at, e.actor, e.request_id, e.subject_id, e.data);
  }

  /** Runs a transaction and records its COMMIT (whatever ran after the body's last statement) as a statement. */
  #committed<T>(transaction: () => T): T {
    this.#commitStartedAt = 0;
    let result: T;
    try {
      result = transaction();
    } catch (error) {
      // A failed COMMIT (SQLITE_FULL, SQLITE_BUSY) is the one failure after the body finished.
      if (this.#commitStartedAt !== 0) this.#observe(COMMIT, this.#commitStartedAt, error);
      throw error;
    }
    // Set only by a body that appended its event (an update that changed nothing writes none).
    if (this.#commitStartedAt !== 0) {
      this.#observe(COMMIT, this.#commitStartedAt);
      this.#onEventsCommitted?.();
    }
    return result;
  }

  #run(p: Prepared, ...params: unknown[]): SQLite.RunResult {
    return runObserved(this.#observe, p, params);
  }

  #get<T>(p: Prepared, ...params: unknown[]): T | undefined {
    return getObserved<T>(this.#observe, p, params);
  }

  #all<T>(p: Prepared, params: unknown[]): T[] {
    return allObserved<T>(this.#observe, p, params);
  }
}
