import type { Kysely, Selectable } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { EventsTable, Schema } from '../db/schema.js';
import type { EventType, StoredEvent } from './model.js';
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

export function toStoredEvent(row: Selectable<EventsTable>, dialect: SqlDialect): StoredEvent {
  return {
    sequence: Number(row.seq),
    id: row.id,
    type: row.type as EventType,
    occurredAt: dialect.fromTime(row.occurred_at),
    actor: row.actor,
    requestId: row.request_id,
    subjectId: row.subject_id,
    data: dialect.fromJson(row.data) as Record<string, unknown>,
  };
}
