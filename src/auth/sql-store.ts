import type { Kysely, Selectable } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { ApiKeysTable, Schema } from '../db/schema.js';
import type { Scope } from './model.js';
import type { ApiKeyRecord, ApiKeyStore } from './service.js';

const BOOTSTRAP_MARK = 'bootstrap_key_created';

/** The ApiKeyStore adapter for SQLite and PostgreSQL; outages surface as UnavailableError, as in the users stores. */
export class SqlApiKeyStore implements ApiKeyStore {
  // Parameter properties: every SQL adapter takes the same two, and spelling them out was the
  // same six lines in each.
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  async insert(record: ApiKeyRecord, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () => this.db.insertInto('api_keys').values(this.#toRow(record)).execute());
  }

  async get(id: string, signal?: AbortSignal): Promise<ApiKeyRecord | undefined> {
    signal?.throwIfAborted();
    // Every request's credential check reads here: a read, so a connection lost under it is retried once.
    const row = await failOnOutage(this.dialect, () => this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst(), {
      retryLostConnection: true,
      signal,
    });
    return row ? this.#toRecord(row) : undefined;
  }

  async list(signal?: AbortSignal): Promise<ApiKeyRecord[]> {
    signal?.throwIfAborted();
    const rows = await failOnOutage(this.dialect, () =>
      this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute(),
    );
    return rows.map((row) => this.#toRecord(row));
  }

  async revoke(id: string, at: Date, signal?: AbortSignal): Promise<ApiKeyRecord | undefined> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('api_keys')
        .set({ revoked_at: this.dialect.toTime(at) })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute(),
    );
    return this.get(id);
  }

  async touch(id: string, at: Date, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('api_keys')
        .set({ last_used_at: this.dialect.toTime(at) })
        .where('id', '=', id)
        .execute(),
    );
  }

  async insertBootstrapKey(record: ApiKeyRecord, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    return failOnOutage(this.dialect, () =>
      this.db.transaction().execute(async (trx) => {
        const marked = await trx
          .insertInto('roster_meta')
          .values({ key: BOOTSTRAP_MARK, value: record.createdAt.toISOString() })
          .onConflict((oc) => oc.column('key').doNothing())
          .executeTakeFirst();
        if (Number(marked.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
        const existing = await trx.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
        if (existing) return false;
        await trx.insertInto('api_keys').values(this.#toRow(record)).execute();
        return true;
      }),
    );
  }

  #toRow(record: ApiKeyRecord) {
    const t = (d: Date | null) => (d === null ? null : this.dialect.toTime(d));
    return {
      id: record.id,
      name: record.name,
      scopes: this.dialect.toJson(record.scopes),
      secret_hash: record.secretHash,
      created_at: this.dialect.toTime(record.createdAt),
      expires_at: t(record.expiresAt),
      revoked_at: t(record.revokedAt),
      last_used_at: t(record.lastUsedAt),
    };
  }

  #toRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
    const t = (v: unknown) => (v === null || v === undefined ? null : this.dialect.fromTime(v));
    return {
      id: row.id,
      name: row.name,
      scopes: this.dialect.fromJson(row.scopes) as Scope[],
      secretHash: row.secret_hash,
      createdAt: this.dialect.fromTime(row.created_at),
      expiresAt: t(row.expires_at),
      revokedAt: t(row.revoked_at),
      lastUsedAt: t(row.last_used_at),
    };
  }
}
