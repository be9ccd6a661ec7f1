// Migration 0010 turns PostgreSQL's id columns into uuid on a database that already holds rows
// in every table it touches: the ids read back unchanged, in the same order (a cursor issued
// before it continues after it), foreign keys and indexes are back, down restores text, and a
// value that is not a lower-case UUID stops it before anything changes. On SQLite it does nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import { migrateTo as migrateToVersion, migrateToLatest, MigrationError, openKeyConflicts } from '../../src/db/migrator.js';
import type { Schema } from '../../src/db/schema.js';
import { usersServiceOver } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

/** Every column 0010 retypes on PostgreSQL, as `table.column`. */
const ID_COLUMNS = [
  'users.id',
  'users.imported_by',
  'events.id',
  'events.subject_id',
  'webhook_endpoints.id',
  'webhook_attempts.id',
  'webhook_attempts.endpoint_id',
  'webhook_attempts.event_id',
  'webhook_replays.endpoint_id',
  'import_jobs.id',
  'import_row_errors.job_id',
  'user_key_conflicts.user_id',
  'user_key_conflicts.holder_id',
];
/** Columns that hold ids or tokens that are not UUIDs: they stay text. */
const TEXT_COLUMNS = ['api_keys.id', 'events.actor', 'events.request_id', 'idempotency_keys.key', 'import_jobs.actor'];

/**
 * A lower-case UUIDv7 with random bits everywhere but the version and variant: ids spread over
 * the whole key space, so every hex position meets digits and letters in the order checks
 * (real UUIDv7s share their leading timestamp digits).
 */
function scatteredUuidV7(): string {
  const hex = randomBytes(16).toString('hex').split('');
  hex[12] = '7';
  hex[16] = '89ab'[parseInt(hex[16]!, 16) % 4]!;
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`migration 0010 (uuid ids) on ${dialect}`, { skip }, () => {
    let t: TestDatabase;
    let db: Kysely<Schema>;
    before(async () => {
      t = await open();
      db = t.database.db;
    });
    after(async () => t?.cleanup());

    const migrateTo = (name: string) => migrateToVersion(db, t.database.dialect.name, name);

    /** `table.column` → its declared type: information_schema on PostgreSQL, PRAGMA table_info on SQLite. */
    async function columnTypes(columns: readonly string[]): Promise<Record<string, string>> {
      const types: Record<string, string> = {};
      for (const qualified of columns) {
        const [table, column] = qualified.split('.') as [string, string];
        const { rows } =
          dialect === 'postgres'
            ? await sql<{ type: string }>`select data_type as type from information_schema.columns
                where table_schema = current_schema() and table_name = ${table} and column_name = ${column}`.execute(db)
            : await sql<{ type: string }>`select lower(type) as type from pragma_table_info(${table}) where name = ${column}`.execute(db);
        types[qualified] = rows[0]!.type;
      }
      return types;
    }

    const allOf = (type: string, columns: readonly string[]) => Object.fromEntries(columns.map((c) => [c, type]));

    if (dialect === 'sqlite') {
      test('SQLite keeps every id column as text: 0010 is applied and does nothing', async () => {
        assert.deepEqual(await columnTypes([...ID_COLUMNS, ...TEXT_COLUMNS]), allOf('text', [...ID_COLUMNS, ...TEXT_COLUMNS]));
        await migrateToVersion(db, 'sqlite', '0009_search_key_ranges');
        await migrateToLatest(db, 'sqlite');
        assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('text', ID_COLUMNS));
      });
      return;
    }

    const at = new Date('2026-01-02T03:04:05.678Z');
    const userIds = Array.from({ length: 60 }, scatteredUuidV7);
    const [endpointId, otherEndpointId, jobId] = [scatteredUuidV7(), scatteredUuidV7(), scatteredUuidV7()];
    const attemptIds = [scatteredUuidV7(), scatteredUuidV7(), scatteredUuidV7()];

    /** Rows in every table 0010 rewrites, written as 0001–0009 stored them (ids as text). */
    async function seed(): Promise<void> {
      await sql`insert into import_jobs (id, status, format, mode, events, dry_run, options, source, created_at, updated_at)
        values (${jobId}, 'succeeded', 'csv', 'upsert', 'per-user', 0, '{}', 'users.csv', ${at}, ${at})`.execute(db);
      for (const [i, id] of userIds.entries()) {
        await sql`insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at, imported_by)
          values (${id}, ${`u${i}@example.com`}, ${`u${i}@example.com`}, ${`User ${i}`}, ${`user ${i}`}, '{}', 1, ${at}, ${at},
          ${i % 2 === 0 ? jobId : null})`.execute(db);
        await sql`insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
          values (${scatteredUuidV7()}, 'user.created', ${at}, 'key:0123456789abcdef', 'req-1', ${id}, '{}')`.execute(db);
      }
      await sql`insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
        values (${scatteredUuidV7()}, 'users.imported', ${at}, 'system:cli', null, ${jobId}, '{}')`.execute(db);
      for (const id of [endpointId, otherEndpointId]) {
        await sql`insert into webhook_endpoints (id, url, description, event_types, enabled, secrets, created_at, updated_at, cursor,
          next_attempt_at) values (${id}, 'https://hooks.example.com/', '', null, true, '[]', ${at}, ${at}, 0, ${at})`.execute(db);
      }
      const { rows: events } = await sql<{ id: string; seq: string }>`select id, seq from events order by seq limit 3`.execute(db);
      for (const [i, id] of attemptIds.entries()) {
        await sql`insert into webhook_attempts (id, endpoint_id, event_id, event_seq, attempt, attempted_at, outcome, latency_ms,
          response_body, replay) values (${id}, ${endpointId}, ${events[i]!.id}, ${events[i]!.seq}, 1, ${at}, 'delivered', 5, '', false)`.execute(
          db,
        );
      }
      await sql`insert into webhook_replays (endpoint_id, event_seq, next_attempt_at, attempt, replay)
        values (${endpointId}, ${events[0]!.seq}, ${at}, 1, true)`.execute(db);
      await sql`insert into import_row_errors (job_id, line, field, reason) values (${jobId}, 2, 'email', 'bad'), (${jobId}, 3, null, 'x')`.execute(
        db,
      );
      // An open conflict: user 1 still has the email and the kept key (see openKeyConflicts()).
      await sql`insert into user_key_conflicts (user_id, email, kept_key, folded_key, holder_id, found_at)
        values (${userIds[1]!}, 'u1@example.com', 'u1@example.com', 'u1@example.com', ${userIds[0]!}, ${at})`.execute(db);
    }

    /** Every id column's values, each table in a fixed order, as the driver hands them back. */
    async function snapshot(): Promise<Record<string, unknown[]>> {
      const read = async (query: RawBuilder<unknown>) => (await query.execute(db)).rows as Record<string, unknown>[];
      return {
        users: await read(sql`select id, imported_by from users order by email`),
        usersById: (await read(sql`select id from users order by id`)).map((r) => r.id),
        events: await read(sql`select seq, id, subject_id, actor, request_id from events order by seq`),
        endpoints: await read(sql`select id from webhook_endpoints order by url, created_at, description, id`),
        attempts: await read(sql`select id, endpoint_id, event_id from webhook_attempts order by id`),
        replays: await read(sql`select endpoint_id, event_seq from webhook_replays order by event_seq`),
        jobs: await read(sql`select id from import_jobs`),
        rowErrors: await read(sql`select job_id, line from import_row_errors order by line`),
        conflicts: await read(sql`select user_id, holder_id from user_key_conflicts`),
      };
    }

    /** Constraints and indexes of the rewritten tables, by name and definition. */
    async function structure(): Promise<string[]> {
      const { rows } = await sql<{ line: string }>`
        select conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) as line from pg_constraint
          where connamespace = current_schema()::regnamespace
        union all
        select tablename || ' ' || indexname as line from pg_indexes where schemaname = current_schema()
        order by line`.execute(db);
      // Indexes of later migrations (0011) are not 0010's.
      return rows.map((r) => r.line).filter((line) => !/ users_(active_id|external_id_unique)$/.test(line));
    }

    test('up retypes every id column of a populated database; ids, their order and cursors stay; down restores text', async () => {
      await migrateTo('0009_search_key_ranges');
      assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('text', ID_COLUMNS));
      await seed();
      const before = await snapshot();
      const structureBefore = await structure();
      assert.deepEqual(
        before.usersById,
        [...userIds].sort((a, b) => (a < b ? -1 : 1)),
        'text order is the ids in code-unit order',
      );
      // A cursor issued before the migration, by an instance on its own connections (closed before it runs).
      // Today's service reads the columns 0011 adds: the 0009 table has them only while it pages.
      const provisioning = `active boolean not null default true, add column external_id text, add column given_name text,
        add column family_name text, add column profile jsonb not null default '{}'`;
      await sql.raw(`alter table users add column ${provisioning}`).execute(db);
      const earlier = openDatabase(t.url, { poolSize: 1 });
      const firstPage = await (await usersServiceOver(earlier)).list({ limit: 7 });
      await earlier.close();
      await sql`alter table users drop column active, drop column external_id, drop column given_name, drop column family_name, drop column profile`.execute(
        db,
      );
      assert.deepEqual(
        firstPage.users.map((u) => u.id),
        before.usersById.slice(0, 7),
      );

      // 0010 alone: later migrations change the structure compared below (0014: events' keys).
      await migrateToVersion(db, 'postgres', '0010_postgres_uuid_ids');
      assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('uuid', ID_COLUMNS));
      assert.deepEqual(await columnTypes(TEXT_COLUMNS), allOf('text', TEXT_COLUMNS));
      assert.deepEqual(await snapshot(), before, 'every id reads back as the same lower-case text, in the same order');
      assert.deepEqual(await structure(), structureBefore, 'the same constraints (foreign keys with on delete cascade) and indexes');

      // Today's service reads the columns of later migrations (0011).
      await migrateToLatest(db, 'postgres');
      const users = await usersServiceOver(t.database);
      const secondPage = await users.list({ limit: 7, cursor: firstPage.nextCursor! });
      assert.deepEqual(
        secondPage.users.map((u) => u.id),
        before.usersById.slice(7, 14),
        'the old cursor continues where it stopped',
      );
      assert.equal((await users.get(userIds[5]!)).id, userIds[5]);
      assert.deepEqual(
        (await openKeyConflicts(db, 'postgres')).map((c) => [c.userId, c.holderId]),
        [[userIds[1], userIds[0]]],
      );

      await migrateToVersion(db, 'postgres', '0009_search_key_ranges');
      assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('text', ID_COLUMNS));
      assert.deepEqual(await snapshot(), before, 'down gives the same text back');
      assert.deepEqual(await structure(), structureBefore);
      await migrateToLatest(db, 'postgres');
      assert.deepEqual(await snapshot(), before);

      // The foreign keys added back still cascade.
      await sql`delete from webhook_endpoints where id = ${endpointId}`.execute(db);
      await sql`delete from import_jobs where id = ${jobId}`.execute(db);
      const left = await snapshot();
      assert.deepEqual([left.attempts, left.replays, left.rowErrors], [[], [], []]);
    });

    test('a value that is not a lower-case UUID stops the migration before anything changes', async () => {
      await migrateTo('0009_search_key_ranges');
      const upper = scatteredUuidV7().toUpperCase();
      await sql`update users set id = ${upper} where id = ${userIds[3]!}`.execute(db);
      await assert.rejects(migrateToLatest(db, 'postgres'), (error: unknown) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /0010_postgres_uuid_ids/);
        assert.match(String((error.cause as Error).message), new RegExp(`^users\\.id holds "${upper}", which is not a lower-case UUID`));
        return true;
      });
      assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('text', ID_COLUMNS), 'nothing was retyped');
      await sql`update users set id = ${upper.toLowerCase()} where id = ${upper}`.execute(db);
      // 0010 alone: later migrations change the structure compared below (0014: events' keys).
      await migrateToVersion(db, 'postgres', '0010_postgres_uuid_ids');
      assert.deepEqual(await columnTypes(ID_COLUMNS), allOf('uuid', ID_COLUMNS));
    });
  });
}
