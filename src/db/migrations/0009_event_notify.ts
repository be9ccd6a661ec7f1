import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * PostgreSQL: every statement that inserts into `events` queues a NOTIFY on the channel
 * `roster_events` (payload: the table's schema, so two Roster schemas in one database can tell
 * their events apart). PostgreSQL delivers a transaction's notifications when it commits, and
 * never when it rolls back, so whoever LISTENs hears of exactly the committed events of every
 * writer — the API, imports, the CLI, another instance — with no writer having to remember it.
 * Identical notifications of one transaction are delivered once: a batch of 10,000 events is
 * one notification. The webhook dispatchers LISTEN (events/sql-commit-listener.ts) and claim
 * at once instead of at their next poll. SQLite has one process writing at a time and nothing
 * to listen with: its writers announce commits in process (events/commits.ts).
 *
 * The channel and payload are frozen here (a migration is history); the listener spells them
 * the same way.
 */
export function eventNotifyMigration(dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`create function roster_events_notify() returns trigger language plpgsql as $$
        begin
          perform pg_notify('roster_events', tg_table_schema);
          return null;
        end $$`.execute(db);
      await sql`create trigger events_notify after insert on events for each statement execute function roster_events_notify()`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`drop trigger events_notify on events`.execute(db);
      await sql`drop function roster_events_notify()`.execute(db);
    },
  };
}
