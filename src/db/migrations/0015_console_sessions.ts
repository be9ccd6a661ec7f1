import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * Sessions of the admin console (src/console/): a browser holds a random token in a cookie and
 * the table holds only its SHA-256, so a read of the table signs nobody in. Stored rather than
 * signed so that sign-out and expiry are immediate on every instance and survive a restart.
 */
export function consoleSessionsMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('console_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('csrf_secret', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('last_seen_at', time, (c) => c.notNull())
        .addColumn('idle_expires_at', time, (c) => c.notNull())
        .addColumn('absolute_expires_at', time, (c) => c.notNull())
        .execute();
      // Pruning reads expired rows in order; a key's sessions are listed when it is revoked.
      await db.schema.createIndex('console_sessions_absolute_expires_at').on('console_sessions').column('absolute_expires_at').execute();
      await db.schema.createIndex('console_sessions_key_id').on('console_sessions').column('key_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('console_sessions').execute();
    },
  };
}
