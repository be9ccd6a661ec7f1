import type { Kysely, Transaction } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import type { NewEvent } from './model.js';
import type pg from 'pg';
import { sequencerForKysely, sequencerForPool } from './sql-sequencer.js';

export { EVENT_SEQUENCE_LOCK, NEXT_SEQUENCE, underSequenceLock } from './sql-sequencer.js';

/**
 * Appends `event` inside the caller's transaction: the change and its event commit together or
 * not at all.
 *
 * Commit order: SQLite has one writer at a time, so its autoincrement `seq` follows commit
 * order by itself. On PostgreSQL the event is inserted with no sequence and no lock (an
 * identity column would hand out numbers in the order transactions *ask*, not the order they
 * *commit*); it gets its sequence once committed, from a numbering pass (events/sql-sequencer.ts).
 * After the transaction commits, call publishEvents() to have it numbered (and visible to the
 * feed and the dispatcher) before answering; without it the server's safety-net pass numbers it
 * within a second.
 */
export async function appendEvent(trx: Transaction<Schema>, dialect: SqlDialect, event: NewEvent): Promise<void> {
  await trx.insertInto('events').values(toEventRow(event, dialect)).execute();
}

/**
 * After a commit that appended events through `db`: resolves once they are numbered (PostgreSQL;
 * at once on SQLite). Never rejects: the commit stands, and a failed pass leaves the events for
 * the next one.
 */
export async function publishEvents(db: Kysely<Schema>, dialect: SqlDialect): Promise<void> {
  if (dialect.name === 'postgres') await sequencerForKysely(db).sequence();
}

/**
 * publishEvents() for writers on the pg pool directly (PostgreSQL only: the users store, the
 * import's batches). Resolves to the pass's failure, if any, rather than rejecting.
 */
export function publishPoolEvents(pool: pg.Pool): Promise<Error | undefined> {
  return sequencerForPool(pool).sequence();
}

/** The row of `events` for an event (its `seq` is the database's): for appendEvent() and the batch writers' own statements. */
export function toEventRow(event: NewEvent, dialect: SqlDialect) {
  return {
    id: event.id,
    type: event.type,
    occurred_at: dialect.toTime(event.occurredAt),
    actor: event.actor,
    request_id: event.requestId,
    subject_id: event.subjectId,
    data: dialect.toJson(event.data),
  };
}
