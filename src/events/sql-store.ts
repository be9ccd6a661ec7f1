import type { Kysely } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import { toStoredEvent, type StoredEvent } from './model.js';
import type { EventPageQuery, EventStore } from './service.js';

/** The EventStore adapter for SQLite and PostgreSQL. */
export class SqlEventStore implements EventStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  async list(query: EventPageQuery, signal?: AbortSignal): Promise<StoredEvent[]> {
    signal?.throwIfAborted();
    let select = this.db.selectFrom('events').selectAll().where('seq', '>', query.afterSequence).orderBy('seq').limit(query.limit);
    if (query.types !== undefined) select = select.where('type', 'in', [...query.types]);
    const rows = await failOnOutage(this.dialect, () => select.execute(), { retryLostConnection: true, signal });
    return rows.map((row) => toStoredEvent(row, this.dialect));
  }

  async prune(before: Date, limit: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .deleteFrom('events')
        .where('seq', 'in', (eb) =>
          eb.selectFrom('events').select('seq').where('occurred_at', '<', this.dialect.toTime(before)).orderBy('seq').limit(limit),
        )
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }
}
