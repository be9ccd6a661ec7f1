import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * The outbox: one row per change, written in the change's transaction. `seq` orders the feed;
 * on PostgreSQL it is allocated under a transaction-scoped advisory lock held to commit (see
 * events/sql-outbox.ts), so readers see sequences appear in commit order.
 */
export function eventsMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = dialect === 'postgres' ? sql`jsonb` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('events')
        .$call((t) =>
          dialect === 'postgres'
            ? t.addColumn('seq', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
            : t.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement()),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('occurred_at', time, (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('request_id', 'text')
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('data', json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_type_seq').on('events').columns(['type', 'seq']).execute();
      await db.schema.createIndex('events_occurred_at').on('events').column('occurred_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('events').execute();
    },
  };
}
