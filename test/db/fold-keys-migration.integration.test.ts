// Migration 0008 rebuilds users' email_key/name_key with the fold, on each dialect: keys that
// change are rewritten, two users whose emails now fold together both survive (the one that
// cannot take the folded key keeps its old one and is reported), and down restores the
// lower-cased keys.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { migrateDown, migrateTo as migrateToVersion, migrationStatus, openKeyConflicts } from '../../src/db/migrator.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

for (const [dialect, open, skip] of await dialects()) {
  describe(`migration 0008 (fold keys) on ${dialect}`, { skip }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await open();
    });
    after(async () => t?.cleanup());

    /** Up or down to `name`: 0008 is tested alone, since its rows' ids are labels, not the UUIDs 0009 requires on PostgreSQL. */
    const migrateTo = (name: string) => migrateToVersion(t.database.db, t.database.dialect.name, name);

    const keys = async () =>
      Object.fromEntries(
        (
          await sql<{ id: string; email_key: string; name_key: string }>`select id, email_key, name_key from users order by id`.execute(
            t.database.db,
          )
        ).rows.map((r) => [r.id, [r.email_key, r.name_key]]),
      );

    test('up folds the keys and reports users whose emails now collide; down restores lower-cased keys', async () => {
      const { db } = t.database;
      // Down to 0007: every later migration first, then 0008 itself.
      const applied = async () => (await migrationStatus(db, t.database.dialect.name)).filter((m) => m.executedAt !== undefined);
      const downTo0007 = async () => {
        while ((await applied()).some((m) => m.name === '0008_fold_keys')) await migrateDown(db, t.database.dialect.name);
      };
      await downTo0007();
      assert.equal((await applied()).at(-1)?.name, '0007_email_key_index', 'down reverted 0008');

      const at = (iso: string) => (dialect === 'postgres' ? new Date(iso) : iso);
      // [id, email, name, created_at]: keys as 0001–0007 wrote them (toLowerCase()).
      const rows: [string, string, string, string][] = [
        ['u1-plain', 'ann@example.com', 'Ann', '2024-01-01T00:00:00.000Z'],
        ['u2-izmir', 'izmir@example.com', 'İZMIR Straße', '2024-01-02T00:00:00.000Z'],
        // Folds onto u4's key, which u4 already has: u4 keeps it, u3 (older) keeps its old key.
        ['u3-sharp-s', 'Straße@example.com', 'Old', '2024-01-03T00:00:00.000Z'],
        ['u4-ss', 'strasse@example.com', 'New', '2024-01-04T00:00:00.000Z'],
        // Two keys that both change onto one: the oldest (u6) takes it, u5 keeps its old key.
        ['u5-long-s', 'kiſs@example.com', 'Kiſs', '2024-01-06T00:00:00.000Z'],
        ['u6-kelvin', '\u212Aisſ@example.com', 'Kiss', '2024-01-05T00:00:00.000Z'],
      ];
      for (const [id, email, name, created] of rows) {
        await sql`insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
          values (${id}, ${email}, ${email.toLowerCase()}, ${name}, ${name.toLowerCase()}, ${t.database.dialect.toJson({})}, 1,
          ${at(created)}, ${at(created)})`.execute(db);
      }
      const before = await keys();

      await migrateTo('0008_fold_keys');
      const folded = await keys();
      assert.deepEqual(folded['u1-plain'], ['ann@example.com', 'ann']);
      assert.deepEqual(folded['u2-izmir'], ['izmir@example.com', 'izmir strasse']);
      assert.deepEqual(folded['u4-ss'], ['strasse@example.com', 'new']);
      assert.deepEqual(folded['u3-sharp-s'], ['straße@example.com', 'old'], 'u3 keeps its old key');
      assert.deepEqual(folded['u6-kelvin'], ['kiss@example.com', 'kiss'], 'the older of two moving rows takes the key');
      assert.deepEqual(folded['u5-long-s'], ['kiſs@example.com', 'kiss'], 'u5 keeps its old key');
      assert.deepEqual(
        (await openKeyConflicts(db, t.database.dialect.name)).map((c) => [c.userId, c.email, c.keptKey, c.foldedKey, c.holderId]),
        [
          ['u3-sharp-s', 'Straße@example.com', 'straße@example.com', 'strasse@example.com', 'u4-ss'],
          ['u5-long-s', 'kiſs@example.com', 'kiſs@example.com', 'kiss@example.com', 'u6-kelvin'],
        ],
      );
      // Once an operator gives u3 another email, its conflict is no longer open.
      await sql`update users set email = 'straße.old@example.com', email_key = 'strasse.old@example.com' where id = 'u3-sharp-s'`.execute(
        db,
      );
      assert.deepEqual(
        (await openKeyConflicts(db, t.database.dialect.name)).map((c) => c.userId),
        ['u5-long-s'],
      );
      await sql`update users set email = 'Straße@example.com', email_key = 'straße@example.com' where id = 'u3-sharp-s'`.execute(db);

      await downTo0007();
      assert.deepEqual(await keys(), before);
      await migrateTo('0008_fold_keys');
      assert.deepEqual(await keys(), folded, 'up again gives the same keys');
    });
  });
}
