import { sql, type Kysely, type Transaction } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import { EmailTakenError, IdempotencyKeyTakenError, UserNotFoundError } from './errors.js';
import type { User, UserId } from './model.js';
import { fromUserRow, toUserRow } from './sql-row.js';
import type { IdempotencyRecord, UserPageQuery, UserStore } from './service.js';
import type { NewEvent } from '../events/model.js';
import { appendEvent } from '../events/sql-outbox.js';

/** The UserStore adapter for SQLite and PostgreSQL; dialect differences come from `SqlDialect`. */
export class SqlUserStore implements UserStore {
  // Parameter properties: every SQL adapter takes the same two, and spelling them out was the
  // same six lines in each.
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  async create(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await this.#translate(() =>
      this.db.transaction().execute(async (trx) => {
        // The key goes in first: a concurrent request with the same key then waits on it and
        // replays, instead of racing for the email and reporting a conflict.
        if (idempotency) {
          await trx
            .deleteFrom('idempotency_keys')
            .where('scope', '=', idempotency.scope)
            .where('key', '=', idempotency.key)
            .where('expires_at', '<=', this.dialect.toTime(user.createdAt))
            .execute();
          await trx.insertInto('idempotency_keys').values(this.#toIdempotencyRow(idempotency, user.createdAt)).execute();
        }
        await trx.insertInto('users').values(this.#toUserRow(user)).execute();
        await appendEvent(trx, this.dialect, event);
      }),
    );
  }

  async findIdempotency(scope: string, key: string, now: Date, signal?: AbortSignal): Promise<IdempotencyRecord | undefined> {
    signal?.throwIfAborted();
    const row = await this.#translate(() =>
      this.db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('expires_at', '>', this.dialect.toTime(now))
        .executeTakeFirst(),
    );
    if (!row) return undefined;
    return {
      scope: row.scope,
      key: row.key,
      fingerprint: row.fingerprint,
      user: this.#fromSnapshot(this.dialect.fromJson(row.result)),
      expiresAt: this.dialect.fromTime(row.expires_at),
    };
  }

  async get(id: UserId, signal?: AbortSignal): Promise<User | undefined> {
    signal?.throwIfAborted();
    const row = await this.#translate(() => this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst(), {
      read: true,
      signal,
    });
    return row ? this.#toUser(row) : undefined;
  }

  async list(query: UserPageQuery, signal?: AbortSignal): Promise<User[]> {
    signal?.throwIfAborted();
    let select = this.db.selectFrom('users').selectAll().orderBy('id').limit(query.limit);
    if (query.afterId !== undefined) select = select.where('id', '>', query.afterId);
    if (query.emailKey !== undefined) select = select.where('email_key', '=', query.emailKey);
    if (query.prefix !== undefined) {
      const pattern = `${escapeLike(query.prefix)}%`;
      select = select.where(sql<boolean>`(name_key like ${pattern} escape '\\' or email_key like ${pattern} escape '\\')`);
    }
    const rows = await this.#translate(() => select.execute(), { read: true, signal });
    return rows.map((row) => this.#toUser(row));
  }

  async update(
    id: UserId,
    change: (current: User) => User,
    describe: (before: User, after: User) => NewEvent,
    signal?: AbortSignal,
  ): Promise<User> {
    signal?.throwIfAborted();
    return this.#translate(() =>
      this.db.transaction().execute(async (trx) => {
        const before = await this.#lockForChange(trx, id);
        const after = change(before);
        if (after === before) return before;
        const { id: _id, created_at: _created, ...changes } = this.#toUserRow(after);
        await trx.updateTable('users').set(changes).where('id', '=', id).execute();
        await appendEvent(trx, this.dialect, describe(before, after));
        return after;
      }),
    );
  }

  async delete(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await this.#translate(() =>
      this.db.transaction().execute(async (trx) => {
        const current = await this.#lockForChange(trx, id);
        check(current);
        await trx.deleteFrom('users').where('id', '=', id).execute();
        await appendEvent(trx, this.dialect, describe(current));
      }),
    );
  }

  async purgeIdempotency(now: Date, limit: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const result = await this.#translate(() =>
      this.db
        .deleteFrom('idempotency_keys')
        .where((eb) =>
          eb(
            eb.refTuple('scope', 'key'),
            'in',
            eb
              .selectFrom('idempotency_keys')
              .select(['scope', 'key'])
              .where('expires_at', '<=', this.dialect.toTime(now))
              .limit(limit)
              .$asTuple('scope', 'key'),
          ),
        )
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  /** Reads a user for read-modify-write, holding its row lock where the dialect has them. */
  async #lockForChange(trx: Transaction<Schema>, id: UserId): Promise<User> {
    const row = await trx
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .$if(this.dialect.lockRowsForUpdate, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!row) throw new UserNotFoundError(`No user has id ${id}.`);
    return this.#toUser(row);
  }

  /**
   * Turns driver errors into the domain's: unique violations into conflicts, outages into
   * UnavailableError. A read whose connection was lost (a failover) is run once more.
   */
  async #translate<T>(work: () => Promise<T>, read?: { read: true; signal: AbortSignal | undefined }): Promise<T> {
    try {
      return await failOnOutage(this.dialect, work, { retryLostConnection: read !== undefined, signal: read?.signal });
    } catch (error) {
      const table = this.dialect.uniqueViolationTable(error);
      if (table === 'users') throw new EmailTakenError('Another user already has this email.', { cause: error });
      if (table === 'idempotency_keys') throw new IdempotencyKeyTakenError('The idempotency key was taken concurrently.', { cause: error });
      throw error;
    }
  }

  #toUserRow(user: User) {
    return toUserRow(user, this.dialect);
  }

  #toUser(row: Parameters<typeof fromUserRow>[0]): User {
    return fromUserRow(row, this.dialect);
  }

  #toIdempotencyRow(record: IdempotencyRecord, now: Date) {
    const snapshot = { ...record.user, createdAt: record.user.createdAt.toISOString(), updatedAt: record.user.updatedAt.toISOString() };
    return {
      scope: record.scope,
      key: record.key,
      fingerprint: record.fingerprint,
      result: this.dialect.toJson(snapshot),
      created_at: this.dialect.toTime(now),
      expires_at: this.dialect.toTime(record.expiresAt),
    };
  }

  #fromSnapshot(value: unknown): User {
    const snap = value as Omit<User, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };
    return { ...snap, createdAt: new Date(snap.createdAt), updatedAt: new Date(snap.updatedAt) };
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
