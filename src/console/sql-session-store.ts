import type { Kysely, Selectable } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { ConsoleSessionsTable, Schema } from '../db/schema.js';
import type { SessionRecord, SessionStore } from './sessions.js';

/** The SessionStore adapter for SQLite and PostgreSQL; outages surface as UnavailableError. */
export class SqlSessionStore implements SessionStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  async insert(record: SessionRecord, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const t = (d: Date) => this.dialect.toTime(d);
    await failOnOutage(this.dialect, () =>
      this.db
        .insertInto('console_sessions')
        .values({
          id: record.id,
          key_id: record.keyId,
          csrf_secret: record.csrfSecret,
          created_at: t(record.createdAt),
          last_seen_at: t(record.lastSeenAt),
          idle_expires_at: t(record.idleExpiresAt),
          absolute_expires_at: t(record.absoluteExpiresAt),
        })
        .execute(),
    );
  }

  async get(id: string, signal?: AbortSignal): Promise<SessionRecord | undefined> {
    signal?.throwIfAborted();
    const row = await failOnOutage(
      this.dialect,
      () => this.db.selectFrom('console_sessions').selectAll().where('id', '=', id).executeTakeFirst(),
      { retryLostConnection: true, signal },
    );
    return row === undefined ? undefined : this.#toRecord(row);
  }

  async touch(id: string, lastSeenAt: Date, idleExpiresAt: Date, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('console_sessions')
        .set({ last_seen_at: this.dialect.toTime(lastSeenAt), idle_expires_at: this.dialect.toTime(idleExpiresAt) })
        .where('id', '=', id)
        .execute(),
    );
  }

  async delete(id: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () => this.db.deleteFrom('console_sessions').where('id', '=', id).execute());
  }

  async pruneExpired(now: Date, limit: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    // Ids first, then the delete: neither dialect takes a LIMIT on DELETE portably.
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .deleteFrom('console_sessions')
        .where('id', 'in', (qb) =>
          qb
            .selectFrom('console_sessions')
            .select('id')
            .where((eb) => eb.or([eb('absolute_expires_at', '<=', at), eb('idle_expires_at', '<=', at)]))
            .limit(limit),
        )
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  #toRecord(row: Selectable<ConsoleSessionsTable>): SessionRecord {
    const f = (v: unknown) => this.dialect.fromTime(v);
    return {
      id: row.id,
      keyId: row.key_id,
      csrfSecret: row.csrf_secret,
      createdAt: f(row.created_at),
      lastSeenAt: f(row.last_seen_at),
      idleExpiresAt: f(row.idle_expires_at),
      absoluteExpiresAt: f(row.absolute_expires_at),
    };
  }
}
