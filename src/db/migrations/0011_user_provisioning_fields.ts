import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * What identity providers provision (issue 18): `active` (deactivation without deletion),
 * `external_id` (the provider's id, unique, compared exactly), the structured name and the
 * `profile` JSON. Every column has a default or is nullable, so existing rows read back active,
 * without an external id or name parts, with an empty profile; on PostgreSQL 11+ adding a
 * column with a constant default rewrites no row.
 *
 * Indexes:
 * - `users_external_id_unique`, partial (`where external_id is not null`): most users may have
 *   none, and NULLs need no entry. `external_id = ?` implies the predicate on both databases
 *   (a strict comparison is never true for NULL), so the lookup uses it.
 * - `users_active_id` on (active, id): `?active=` pages are `active = ? and id > ? order by id`,
 *   an index range bounded by the page's LIMIT whichever state is rarer. A partial index on the
 *   inactive users alone would be smaller, but `?active=true` would then walk the primary key
 *   skipping the deactivated, unbounded when most users are.
 */
export function userProvisioningFieldsMigration(dialect: DialectName) {
  const pg = dialect === 'postgres';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const columns = pg
        ? [
            'active boolean not null default true',
            'external_id text',
            'given_name text',
            'family_name text',
            "profile jsonb not null default '{}'::jsonb",
          ]
        : [
            'active integer not null default 1',
            'external_id text',
            'given_name text',
            'family_name text',
            "profile text not null default '{}'",
          ];
      // SQLite adds one column per statement.
      for (const column of columns) await sql.raw(`alter table users add column ${column}`).execute(db);
      await sql`create unique index users_external_id_unique on users (external_id) where external_id is not null`.execute(db);
      await sql`create index users_active_id on users (active, id)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index users_active_id`.execute(db);
      await sql`drop index users_external_id_unique`.execute(db);
      for (const column of ['profile', 'family_name', 'given_name', 'external_id', 'active']) {
        await sql.raw(`alter table users drop column ${column}`).execute(db);
      }
    },
  };
}
