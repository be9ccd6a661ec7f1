import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * PostgreSQL: events are numbered after they commit (events/sql-sequencer.ts), not while the
 * writer holds a lock. Writers insert `seq` NULL; one sequencing pass at a time (under the
 * advisory lock that used to order the writers) numbers the committed rows in `ord` order
 * (insertion order, which follows causality: a change made after another committed was inserted
 * after it) from the sequence `events_seq_numbers`, and commits before the next pass starts.
 * `ord` becomes the primary key; `seq` stays unique, NULL until numbered; readers read only
 * numbered rows (`seq > $after` excludes NULL). SQLite has one writer at a time: unchanged.
 */
export function eventSequencerMigration(dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`alter table events add column ord bigint generated always as identity`.execute(db);
      await sql`alter table events drop constraint events_pkey`.execute(db);
      await sql`alter table events add primary key (ord)`.execute(db);
      await sql`alter table events alter column seq drop identity`.execute(db);
      await sql`alter table events alter column seq drop not null`.execute(db);
      await sql`create unique index events_seq_key on events (seq)`.execute(db);
      await sql`create index events_unnumbered on events (ord) where seq is null`.execute(db);
      await sql`create sequence events_seq_numbers as bigint`.execute(db);
      await sql`select setval('events_seq_numbers', (select coalesce(max(seq), 0) + 1 from events), false)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`update events e set seq = n.seq from (select ord, nextval('events_seq_numbers') as seq from (select ord from events where seq is null order by ord) o) n where e.ord = n.ord`.execute(
        db,
      );
      const { rows } = await sql<{ next: string }>`select coalesce(max(seq), 0) + 1 as next from events`.execute(db);
      await sql`drop sequence events_seq_numbers`.execute(db);
      await sql`drop index events_unnumbered`.execute(db);
      await sql`drop index events_seq_key`.execute(db);
      await sql`alter table events drop constraint events_pkey`.execute(db);
      await sql`alter table events alter column seq set not null`.execute(db);
      await sql`alter table events add primary key (seq)`.execute(db);
      await sql
        .raw(`alter table events alter column seq add generated always as identity (start with ${Number(rows[0]?.next ?? 1)})`)
        .execute(db);
      await sql`alter table events drop column ord`.execute(db);
    },
  };
}
