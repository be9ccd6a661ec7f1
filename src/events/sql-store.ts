import { sql, type Kysely } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import type { Cancellation } from '../kit/deadline.js';
import { toStoredEvent, type StoredEvent } from './model.js';
import type { EventPageQuery, EventStore, LatestEventsQuery } from './service.js';

/** The EventStore adapter for SQLite and PostgreSQL. */
export class SqlEventStore implements EventStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  async list(query: EventPageQuery, signal?: Cancellation): Promise<StoredEvent[]> {
    signal?.throwIfAborted();
    const select = this.listQuery(query);
    const rows = await failOnOutage(this.dialect, () => select.execute(), { retryLostConnection: true, signal });
    return rows.map((row) => toStoredEvent(row, this.dialect));
  }

  async latest(query: LatestEventsQuery, signal?: AbortSignal): Promise<StoredEvent[]> {
    signal?.throwIfAborted();
    const select = this.latestQuery(query);
    const rows = await failOnOutage(this.dialect, () => select.execute(), { retryLostConnection: true, signal });
    return rows.map((row) => toStoredEvent(row, this.dialect));
  }

  /** list()'s statement (the plans test explains it). */
  listQuery(query: EventPageQuery) {
    return this.#filtered(query)
      .where('seq', '>', query.afterSequence)
      .$if(query.subjectId !== undefined, (qb) => qb.orderBy('subject_id'))
      .orderBy('seq')
      .limit(query.limit);
  }

  /** latest()'s statement: the same indexes as list(), read backwards. */
  latestQuery(query: LatestEventsQuery) {
    // `seq is not null` skips PostgreSQL's not yet numbered rows (migration 0014), as `seq > $after` does in list().
    return this.#filtered(query)
      .where('seq', 'is not', null)
      .$if(query.beforeSequence !== undefined, (qb) => qb.where('seq', '<', query.beforeSequence!))
      .$if(query.subjectId !== undefined, (qb) => qb.orderBy('subject_id', 'desc'))
      .orderBy('seq', 'desc')
      .limit(query.limit);
  }

  /**
   * Both reads' filters: a type (index events_type_seq) or a subject (events_subject_seq). A
   * subject's reads order by (subject_id, seq), the same order for one subject, so that only
   * events_subject_seq gives it. On PostgreSQL the subject is `= any(array)`: a plain `=` lets
   * the planner drop subject_id from the order and, for a subject with a few percent of all
   * events, walk events_seq_key filtering by subject, reading rows no LIMIT bounds when its
   * events lie elsewhere in the feed (test/events/subject-plans.integration.test.ts).
   */
  #filtered(query: Pick<EventPageQuery, 'types' | 'subjectId'>) {
    const types = query.types;
    const subjectId = query.subjectId;
    const postgres = this.dialect.name === 'postgres';
    return this.db
      .selectFrom('events')
      .selectAll()
      .$if(types !== undefined, (qb) => qb.where('type', 'in', [...types!]))
      .$if(subjectId !== undefined && postgres, (qb) => qb.where(sql<boolean>`subject_id = any(${[subjectId!]}::uuid[])`))
      .$if(subjectId !== undefined && !postgres, (qb) => qb.where('subject_id', '=', subjectId!));
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
