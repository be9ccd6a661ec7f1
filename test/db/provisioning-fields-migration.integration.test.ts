// Migration 0011 adds the provisioning fields to a table that already holds users: they read
// back active, without an external id or name parts, with an empty profile, through the service;
// the external id is unique only where set; down removes the columns and keeps the users.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { migrateTo, migrateToLatest } from '../../src/db/migrator.js';
import type { Schema } from '../../src/db/schema.js';
import { usersServiceOver } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

for (const [dialect, open, skip] of await dialects()) {
  describe(`migration 0011 (user provisioning fields) on ${dialect}`, { skip }, () => {
    let t: TestDatabase;
    let db: Kysely<Schema>;
    before(async () => {
      t = await open();
      db = t.database.db;
    });
    after(async () => t?.cleanup());

    async function columns(): Promise<string[]> {
      const { rows } =
        dialect === 'postgres'
          ? await sql<{ name: string }>`select column_name as name from information_schema.columns
              where table_schema = current_schema() and table_name = 'users'`.execute(db)
          : await sql<{ name: string }>`select name from pragma_table_info('users')`.execute(db);
      return rows.map((r) => r.name).sort();
    }

    test('existing users read back with the defaults; up, down and up again', async () => {
      await migrateTo(db, t.database.dialect.name, '0010_postgres_uuid_ids');
      const ids = [uuidv7(), uuidv7()];
      const at = t.database.dialect.toTime(new Date('2026-01-01T00:00:00.000Z'));
      for (const [i, id] of ids.entries()) {
        await sql`insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
          values (${id}, ${`old${i}@example.com`}, ${`old${i}@example.com`}, 'Old', 'old', '{"kept":true}', 1, ${at}, ${at})`.execute(db);
      }
      await migrateToLatest(db, t.database.dialect.name);
      const users = await usersServiceOver(t.database);
      for (const id of ids) {
        const user = await users.get(id);
        assert.deepEqual(
          [user.active, user.externalId, user.givenName, user.familyName, user.profile, user.attributes],
          [true, null, null, null, {}, { kept: true }],
        );
      }
      // Unique where set; any number of users have none.
      await users.update(ids[0]!, { external_id: 'E1', active: false }, undefined);
      await assert.rejects(users.update(ids[1]!, { external_id: 'E1' }, undefined), { code: 'external-id-taken' });
      assert.ok((await columns()).includes('external_id'));

      await migrateTo(db, t.database.dialect.name, '0010_postgres_uuid_ids'); // down through 0011, whatever came after it
      const after0010 = await columns();
      for (const column of ['active', 'external_id', 'given_name', 'family_name', 'profile'])
        assert.ok(!after0010.includes(column), column);
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from users`.execute(db);
      assert.equal(Number(rows[0]!.n), 2, 'down keeps the users');
      await migrateToLatest(db, t.database.dialect.name);
      assert.equal((await users.get(ids[0]!)).active, true, 'a second up starts from the defaults again');
    });
  });
}
