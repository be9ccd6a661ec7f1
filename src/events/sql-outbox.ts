import { sql, type Transaction } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import type { NewEvent } from './model.js';

/**
 * Key of the PostgreSQL advisory lock that orders event sequences (an arbitrary constant,
 * unique within Roster's advisory locks; the migrator uses Kysely's own lock table).
 */
export const EVENT_SEQUENCE_LOCK = 7_265_301;

/**
 * Appends `event` inside the caller's transaction: the change and its event commit together or
 * not at all.
 *
 * Commit order on PostgreSQL: an identity column alone hands out numbers in the order
 * transactions *ask*, not the order they *commit*, so a reader could see 12 and, a moment
 * later, 11. Taking a transaction-scoped advisory lock first makes every writer allocate its
 * sequence and commit one after another: the lock is released only by COMMIT/ROLLBACK, so no
 * transaction can obtain a sequence until the one holding a lower sequence has finished. The
 * event is the last statement of each transaction, so the lock is held only for the insert and
 * the commit. SQLite has one writer at a time, which gives the same guarantee by itself.
 */
export async function appendEvent(trx: Transaction<Schema>, dialect: SqlDialect, event: NewEvent): Promise<void> {
  if (dialect.name === 'postgres') await sql`select pg_advisory_xact_lock(${EVENT_SEQUENCE_LOCK})`.execute(trx);
  await trx.insertInto('events').values(toEventRow(event, dialect)).execute();
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
