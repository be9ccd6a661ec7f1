import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/** Users, idempotency keys and shared metadata. */
export function usersMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = dialect === 'postgres' ? sql`jsonb` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_key', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('attributes', json, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_email_key_unique').on('users').column('email_key').unique().execute();
      // Prefix search (LIKE 'abc%') can use these; PostgreSQL needs text_pattern_ops under non-C collations.
      const pattern = dialect === 'postgres' ? ' text_pattern_ops' : '';
      await db.schema
        .createIndex('users_name_key_prefix')
        .on('users')
        .expression(sql.raw(`name_key${pattern}`))
        .execute();
      if (dialect === 'postgres') {
        await db.schema.createIndex('users_email_key_prefix').on('users').expression(sql.raw('email_key text_pattern_ops')).execute();
      }
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('result', json, (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
        .execute();
      await db.schema.createIndex('idempotency_keys_expires_at').on('idempotency_keys').column('expires_at').execute();
      await db.schema
        .createTable('roster_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('roster_meta').execute();
      await db.schema.dropTable('idempotency_keys').execute();
      await db.schema.dropTable('users').execute();
    },
  };
}
