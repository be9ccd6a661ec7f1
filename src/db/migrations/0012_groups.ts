import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * Groups and their members (groups/).
 *
 * - `display_name_key` is foldKey() of the name, unique: names are unique case-insensitively
 *   as emails are, and prefix search is a range of this one index (byte order: "C" on
 *   PostgreSQL, BINARY on SQLite).
 * - `external_id` is unique where present (a partial index: any number of groups have none).
 * - `member_count` is kept by every membership change in its transaction, so a group's size
 *   is read, never counted.
 * - `group_members` is keyed (group_id, user_id): a group's members are one range in user id
 *   order (keyset pages of a 100,000-member group); (user_id, group_id) serves a user's groups
 *   and the removal of a deleted user's memberships.
 *
 * Foreign keys (SQLite enforces them: db/database.ts turns `foreign_keys` on): a group's
 * memberships go with it (ON DELETE CASCADE; group.deleted says so). A user's do not cascade:
 * the users store's delete transaction removes them first through the groups adapter's hook
 * and writes a group.members_removed event per group, so a deletion that skipped that step
 * (no events) fails on the key instead of silently dropping memberships. The key also stops a
 * membership being added for a user deleted concurrently.
 */
export function groupsMigration(dialect: DialectName) {
  const pg = dialect === 'postgres';
  const id = pg ? 'uuid' : 'text';
  const time = pg ? 'timestamptz' : 'text';
  const json = pg ? 'jsonb' : 'text';
  const byteOrder = pg ? ' collate "C"' : '';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql
        .raw(
          `create table groups (
            id ${id} primary key,
            display_name text not null,
            display_name_key text${byteOrder} not null,
            external_id text,
            attributes ${json} not null,
            member_count integer not null,
            version integer not null,
            created_at ${time} not null,
            updated_at ${time} not null
          )`,
        )
        .execute(db);
      await sql.raw('create unique index groups_display_name_key on groups (display_name_key)').execute(db);
      await sql.raw('create unique index groups_external_id on groups (external_id) where external_id is not null').execute(db);
      await sql
        .raw(
          `create table group_members (
            group_id ${id} not null references groups (id) on delete cascade,
            user_id ${id} not null references users (id),
            added_at ${time} not null,
            primary key (group_id, user_id)
          )${pg ? '' : ' without rowid'}`,
        )
        .execute(db);
      await sql.raw('create index group_members_user_group on group_members (user_id, group_id)').execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql.raw('drop table group_members').execute(db);
      await sql.raw('drop table groups').execute(db);
    },
  };
}
