import type pg from 'pg';
import { failOnOutage, postgresDialect, timesAndJsonAsText, type SqlDialect } from '../db/dialect.js';
import type { StatementObserver } from '../db/instrumentation.js';
import { inTransaction, withClient } from '../db/postgres-client.js';
import type { NewEvent } from '../events/model.js';
import type { Cancellation } from '../kit/deadline.js';
import { publishPoolEvents, toEventRow } from '../events/sql-outbox.js';
import { IdempotencyKeyTakenError, UserNotFoundError } from './errors.js';
import { conflictOf } from './sql-conflicts.js';
import type { User, UserId } from './model.js';
import {
  fromUserRow,
  fromUserSnapshot,
  insertValues,
  listedUserJsonOfRow,
  toUserRow,
  toUserSnapshot,
  updateValues,
  userJsonOfRow,
  type StoredUserColumns,
} from './sql-row.js';
import type { ListedUserJson, UserJson } from './document.js';
import type { IdempotencyRecord, KeyRangeQuery, UserPageQuery, UserStore } from './service.js';
import type { Keyed, KeyedUser } from './search.js';
import {
  CREATE,
  CREATE_REMEMBERED,
  DELETE,
  DELETE_IF_UNCHANGED,
  FIND_IDEMPOTENCY,
  GET,
  LOCK_FOR_CHANGE,
  PURGE_IDEMPOTENCY,
  UPDATE,
  UPDATE_IF_UNCHANGED,
  BEFORE_EVERY_ID,
  SKIP_REST,
  SKIP_TO,
  listStatementOf,
  searchStatementOf,
  type NamedStatement,
} from './sql-postgres-statements.js';

type Queryable = pg.Pool | pg.PoolClient;

/**
 * How a page's rows are read: as Users (fromUserRow()) or as ids and wire documents
 * (listedUserJsonOfRow()). SQLite's store has SQLite write its documents (sqlite-wire.ts).
 */
type UserRowReader<U> = (row: StoredUserColumns, dialect: SqlDialect) => U;

/**
 * The UserStore adapter for PostgreSQL, on the pg pool directly. The Kysely store it replaced
 * built each query anew and spent a round trip per statement: a create was BEGIN, the
 * idempotency record, the user, the event and COMMIT. Here a create is one autocommit
 * statement (data-modifying CTEs, see sql-postgres-statements.ts), a read is one named prepared
 * statement, and an update or delete is a read and one statement that writes the change, takes
 * writes the event if the row is unchanged since the read (otherwise
 * BEGIN, SELECT … FOR UPDATE, that statement, COMMIT).
 *
 * Errors are the port's: unique violations become EmailTakenError, ExternalIdTakenError or
 * IdempotencyKeyTakenError (sql-conflicts.ts), outages DatabaseUnavailableError, statement timeouts
 * StatementTimeoutError; a read whose connection was lost runs once more, a write never.
 */
export class PostgresUserStore implements UserStore {
  readonly #textTypes = timesAndJsonAsText();

  constructor(
    private readonly pool: pg.Pool,
    private readonly observe: StatementObserver,
    /** Called after each committed change that appended an event (events/commits.ts), never after a rollback. */
    private readonly onEventsCommitted: () => void = () => undefined,
    /**
     * Runs inside a user's deletion, after the user is locked and before its row goes: removes
     * what other capabilities keep about the user (groups' memberships) and appends their events
     * in the same transaction. The composition root provides it (compose/users.ts).
     */
    private readonly onDelete?: (client: pg.PoolClient, userId: UserId, deleted: NewEvent) => Promise<void>,
  ) {}

  async create(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent, signal?: Cancellation): Promise<void> {
    const values: unknown[] = [...insertValues(toUserRow(user, postgresDialect)), ...eventValues(event)];
    if (idempotency !== undefined) values.push(...idempotencyValues(idempotency));
    const statement = idempotency === undefined ? CREATE : CREATE_REMEMBERED;
    const result = await this.#write(() => withClient(this.pool, signal, (client) => this.#run(client, statement, values)));
    // No row: an unexpired record holds the key, so nothing was written (see CREATE_REMEMBERED).
    if (result.rowCount === 0) throw new IdempotencyKeyTakenError('The idempotency key was taken concurrently.');
    await this.#published();
  }

  async findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<IdempotencyRecord | undefined> {
    const { rows } = await this.#read(signal, (client) => this.#run(client, FIND_IDEMPOTENCY, [scope, key, now]));
    const row = rows[0] as { fingerprint: string; result: unknown; expires_at: Date } | undefined;
    if (row === undefined) return undefined;
    return { scope, key, fingerprint: row.fingerprint, user: fromUserSnapshot(row.result), expiresAt: row.expires_at };
  }

  async get(id: UserId, signal?: Cancellation): Promise<User | undefined> {
    const { rows } = await this.#read(signal, (client) => this.#run(client, GET, [id]));
    const row = rows[0] as StoredUserColumns | undefined;
    return row === undefined ? undefined : fromUserRow(row, postgresDialect);
  }

  async getJson(id: UserId, signal?: Cancellation): Promise<UserJson | undefined> {
    const { rows } = await this.#read(signal, (client) => this.#run(client, GET, [id]));
    const row = rows[0] as StoredUserColumns | undefined;
    return row === undefined ? undefined : userJsonOfRow(row, postgresDialect);
  }

  list(query: UserPageQuery, signal?: Cancellation): Promise<User[]> {
    return this.#list(query, fromUserRow, signal);
  }

  listJson(query: UserPageQuery, signal?: Cancellation): Promise<ListedUserJson[]> {
    return this.#list(query, listedUserJsonOfRow, signal);
  }

  /** A page's rows, each read as `read` reads one: list() and listJson() differ only in that. */
  async #list<U>(query: UserPageQuery, read: UserRowReader<U>, signal: Cancellation | undefined): Promise<U[]> {
    const { statement, values } = listStatementOf(query);
    const { rows } = await this.#read(signal, (client) => this.#run(client, statement, values));
    return (rows as StoredUserColumns[]).map((row) => read(row, postgresDialect));
  }

  async skip(afterId: UserId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: UserId | undefined }> {
    const from = afterId ?? BEFORE_EVERY_ID;
    const nth = (await this.#read(signal, (client) => this.#run(client, SKIP_TO, [from, n - 1]))).rows[0] as { id: UserId } | undefined;
    if (nth !== undefined) return { passed: n, last: nth.id };
    const { rows } = await this.#read(signal, (client) => this.#run(client, SKIP_REST, [from, n]));
    const rest = rows[0] as { passed: number; last: UserId | null };
    return { passed: rest.passed, last: rest.last ?? undefined };
  }

  search(query: KeyRangeQuery, signal?: Cancellation): Promise<KeyedUser[]> {
    return this.#search(query, fromUserRow, signal);
  }

  searchJson(query: KeyRangeQuery, signal?: Cancellation): Promise<Keyed<ListedUserJson>[]> {
    return this.#search(query, listedUserJsonOfRow, signal);
  }

  /** A scan's rows, each user read as `read` reads one, with its keys: search() and searchJson() differ only in that. */
  async #search<U extends { readonly id: string }>(
    query: KeyRangeQuery,
    read: UserRowReader<U>,
    signal: Cancellation | undefined,
  ): Promise<Keyed<U>[]> {
    const { statement, values } = searchStatementOf(query);
    const { rows } = await this.#read(signal, (client) => this.#run(client, statement, values));
    return (rows as (StoredUserColumns & { email_key: string; name_key: string })[]).map((row) => ({
      user: read(row, postgresDialect),
      emailKey: row.email_key,
      nameKey: row.name_key,
    }));
  }

  /**
   * First optimistically: an unlocked read, the callbacks, and one autocommit statement that
   * writes only if the row is still the one read (UPDATE_IF_UNCHANGED): two round trips and no
   * transaction held open across the callbacks. If someone changed the user in between, the
   * whole read-modify-write runs again under the row lock (SELECT … FOR UPDATE), so the callbacks
   * may run twice, the second time on the current user, and no update is ever lost.
   */
  async update(
    id: UserId,
    change: (current: User) => User,
    describe: (before: User, after: User) => NewEvent,
    signal?: Cancellation,
  ): Promise<User> {
    let wrote = false;
    const user = await this.#write(async () => {
      const optimistic = await withClient(this.pool, signal, async (client) => {
        const before = await this.#current(client, GET, id);
        const after = change(before);
        if (after === before) return before;
        const event = eventValues(describe(before, after));
        const { rowCount } = await this.#run(client, UPDATE_IF_UNCHANGED, [...changeValues(id, after), ...event, ...asRead(before)]);
        wrote = rowCount === 1;
        return wrote ? after : undefined;
      });
      if (optimistic !== undefined) return optimistic;
      return inTransaction(this.pool, signal, async (client) => {
        const before = await this.#current(client, LOCK_FOR_CHANGE, id);
        const after = change(before);
        if (after === before) return before;
        await this.#run(client, UPDATE, [...changeValues(id, after), ...eventValues(describe(before, after))]);
        wrote = true;
        return after;
      });
    });
    // inTransaction() resolves after COMMIT; a rollback throws before this line.
    if (wrote) await this.#published();
    return user;
  }

  /** As update(): optimistically first, then under the row lock if the user changed in between. */
  async delete(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent, signal?: Cancellation): Promise<void> {
    const onDelete = this.onDelete;
    if (onDelete !== undefined) {
      // The dependents' statements need the transaction (and the user locked first: see groups' lock order).
      await this.#write(() =>
        inTransaction(this.pool, signal, async (client) => {
          const current = await this.#current(client, LOCK_FOR_CHANGE, id);
          check(current);
          const event = describe(current);
          await onDelete(client, id, event);
          await this.#run(client, DELETE, [id, ...eventValues(event)]);
        }),
      );
      await this.#published();
      return;
    }
    await this.#write(async () => {
      const deleted = await withClient(this.pool, signal, async (client) => {
        const current = await this.#current(client, GET, id);
        check(current);
        const { rowCount } = await this.#run(client, DELETE_IF_UNCHANGED, [id, ...eventValues(describe(current)), ...asRead(current)]);
        return rowCount === 1;
      });
      if (deleted) return;
      await inTransaction(this.pool, signal, async (client) => {
        const current = await this.#current(client, LOCK_FOR_CHANGE, id);
        check(current);
        await this.#run(client, DELETE, [id, ...eventValues(describe(current))]);
      });
    });
    await this.#published();
  }

  /**
   * After a commit that wrote an event: waits for a numbering pass (events/sql-sequencer.ts), so
   * the caller's answer comes once the event is in the feed, then announces it. A failed pass does
   * not fail the change, which is committed: a later pass numbers its event.
   */
  async #published(): Promise<void> {
    await publishPoolEvents(this.pool);
    this.onEventsCommitted();
  }

  async purgeIdempotency(now: Date, limit: number, signal?: Cancellation): Promise<number> {
    const result = await this.#write(() => withClient(this.pool, signal, (client) => this.#run(client, PURGE_IDEMPOTENCY, [now, limit])));
    return result.rowCount ?? 0;
  }

  /** The user for a change: read by GET, or by LOCK_FOR_CHANGE inside a transaction. */
  async #current(client: pg.PoolClient, statement: NamedStatement, id: UserId): Promise<User> {
    const { rows } = await this.#run(client, statement, [id]);
    const row = rows[0] as StoredUserColumns | undefined;
    if (row === undefined) throw new UserNotFoundError(`No user has id ${id}.`);
    return fromUserRow(row, postgresDialect);
  }

  /** Runs one statement, recording its duration (and a span when the trace is sampled). */
  async #run(on: Queryable, statement: NamedStatement, values: unknown[]): Promise<pg.QueryResult> {
    const startedAt = performance.now();
    try {
      const types = statement.readsUsers === true ? this.#textTypes : undefined;
      const result = await on.query({ name: statement.name, text: statement.text, values, types });
      this.observe(statement, startedAt);
      return result;
    } catch (error) {
      this.observe(statement, startedAt, error);
      throw error;
    }
  }

  /** A read on its own client: run once more on a fresh connection when the first one died under it. */
  #read(cancellation: Cancellation | undefined, work: (client: pg.PoolClient) => Promise<pg.QueryResult>): Promise<pg.QueryResult> {
    // The pool's checkout listens for the abort only when it has to wait (checkout()).
    return translated(() =>
      failOnOutage(postgresDialect, () => withClient(this.pool, cancellation, work), { retryLostConnection: true, signal: cancellation }),
    );
  }

  /** A write: never retried, since it may have committed before its answer was lost. */
  #write<T>(work: () => Promise<T>): Promise<T> {
    return translated(() => failOnOutage(postgresDialect, work));
  }
}

/** Unique violations as the domain's conflicts; everything else as it is. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw conflictOf(postgresDialect, error) ?? error;
  }
}

/** $1 id, $2–$13 of the update statements: the fields a change sets. */
function changeValues(id: UserId, after: User): unknown[] {
  return [id, ...updateValues(toUserRow(after, postgresDialect))];
}

/** The guard of the *_IF_UNCHANGED statements: the row as it was read. */
function asRead(user: User): unknown[] {
  return [user.version, user.updatedAt];
}

/** The seven event parameters of every write, in the statements' order (withEvent()). */
function eventValues(event: NewEvent): unknown[] {
  const row = toEventRow(event, postgresDialect);
  return [row.id, row.type, row.occurred_at, row.actor, row.request_id, row.subject_id, row.data];
}

/** $22–$26 of CREATE_REMEMBERED; the record's created_at is the user's ($13), as SqliteUserStore writes it. */
function idempotencyValues(record: IdempotencyRecord): unknown[] {
  return [record.scope, record.key, record.fingerprint, toUserSnapshot(record.user), record.expiresAt];
}
