import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * Webhooks: endpoints carry their own delivery state (cursor into the event feed, schedule,
 * failure streak, lease), so the dispatcher claims whole endpoints and delivers their events in
 * order. `webhook_attempts` is the delivery log; `webhook_replays` holds one-off deliveries
 * (replays, and the parked retries of unordered endpoints).
 */
export function webhooksMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = dialect === 'postgres' ? sql`jsonb` : sql`text`;
  const bool = dialect === 'postgres' ? sql`boolean` : sql`integer`;
  const seq = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('event_types', json)
        .addColumn('enabled', bool, (c) => c.notNull())
        .addColumn('ordered', bool, (c) => c.notNull().defaultTo(dialect === 'postgres' ? sql`true` : sql`1`))
        .addColumn('secrets', json, (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .addColumn('disabled_at', time)
        .addColumn('disabled_reason', 'text')
        .addColumn('cursor', seq, (c) => c.notNull())
        .addColumn('next_attempt_at', time, (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('failing_since', time)
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', time)
        .execute();
      await db.schema.createIndex('webhook_endpoints_due').on('webhook_endpoints').columns(['enabled', 'next_attempt_at']).execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_seq', seq, (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('attempted_at', time, (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('latency_ms', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('response_body', 'text', (c) => c.notNull())
        .addColumn('replay', bool, (c) => c.notNull())
        .execute();
      // The delivery log lists one endpoint's attempts newest first (ids are UUIDv7: time-ordered).
      await db.schema.createIndex('webhook_attempts_endpoint_id').on('webhook_attempts').columns(['endpoint_id', 'id']).execute();
      await db.schema.createIndex('webhook_attempts_attempted_at').on('webhook_attempts').column('attempted_at').execute();

      await db.schema
        .createTable('webhook_replays')
        .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
        .addColumn('event_seq', seq, (c) => c.notNull())
        .addColumn('next_attempt_at', time, (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        // Bumped by every replay request: a dispatcher settles only the request it took.
        .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('first_attempt_at', time)
        .addColumn('replay', bool, (c) => c.notNull())
        // One pending delivery per event and endpoint is enough: a second replay of it is a no-op.
        .addPrimaryKeyConstraint('webhook_replays_pk', ['endpoint_id', 'event_seq'])
        .execute();
      await db.schema.createIndex('webhook_replays_due').on('webhook_replays').columns(['endpoint_id', 'next_attempt_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('webhook_replays').execute();
      await db.schema.dropTable('webhook_attempts').execute();
      await db.schema.dropTable('webhook_endpoints').execute();
    },
  };
}
