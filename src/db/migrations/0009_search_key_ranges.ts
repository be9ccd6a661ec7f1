import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * Prefix search walks key ranges in (key, id) order (users/search.ts): `name_key`, which is not
 * unique, needs an index on (name_key, id) so that a page starting after any position is one
 * range scan bounded by its LIMIT, however many users share a name. It replaces
 * `users_name_key_prefix` (0001), which served only LIKE: on SQLite no query at all (its LIKE
 * ignores ASCII case, so a BINARY index cannot serve it), yet every write maintained it.
 *
 * On PostgreSQL the columns are collated "C" (byte order, as SQLite's BINARY and the
 * text_pattern_ops index on `email_key`), so the order does not depend on the database's
 * collation and a row comparison `(name_key collate "C", id collate "C") > ($1, $2)` is an
 * index range. `email_key` needs nothing new: it is unique, so its index alone orders it.
 */
export function searchKeyRangesMigration(dialect: DialectName) {
  const c = dialect === 'postgres' ? ' collate "C"' : '';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql.raw(`create index users_name_key_id on users (name_key${c}, id${c})`).execute(db);
      await sql`drop index users_name_key_prefix`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const pattern = dialect === 'postgres' ? ' text_pattern_ops' : '';
      await sql.raw(`create index users_name_key_prefix on users (name_key${pattern})`).execute(db);
      await sql`drop index users_name_key_id`.execute(db);
    },
  };
}
