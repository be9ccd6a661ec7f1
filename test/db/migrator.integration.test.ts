// Migrations on PostgreSQL when one database holds several schemas (a shared cluster, or one
// schema per tenant or per test): each schema must get its own bookkeeping tables.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { migrateDown, migrateToLatest } from '../../src/db/migrator.js';
import { POSTGRES_URL, postgresUnavailable, withDatabase } from '../helpers/databases.js';

const skip = await postgresUnavailable();

describe('migrations on PostgreSQL with several schemas in one database', { skip }, () => {
  const name = `roster_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  before(async () => {
    await admin.connect();
    await admin.query(`create database ${name}`);
  });
  after(async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  function inSchema(schema: string): string {
    const u = new URL(withDatabase(POSTGRES_URL, name));
    u.searchParams.set('options', `-c search_path=${schema}`);
    return u.toString();
  }

  test('a second schema migrates after the first one', async () => {
    const setup = openDatabase(withDatabase(POSTGRES_URL, name), { poolSize: 1 });
    await setup.db.schema.createSchema('tenant_a').execute();
    await setup.db.schema.createSchema('tenant_b').execute();
    await setup.close();
    for (const schema of ['tenant_a', 'tenant_b']) {
      const database = openDatabase(inSchema(schema), { poolSize: 1 });
      try {
        await migrateToLatest(database.db, database.dialect.name);
        const tables = await database.db.introspection.getTables();
        assert.ok(
          tables.some((t) => t.schema === schema && t.name === 'users'),
          `${schema} has its own users table`,
        );
      } finally {
        await database.close();
      }
    }
  });

  test('users.email_key has one unique text_pattern_ops index (0007), serving equality and prefix search; down restores the pair', async () => {
    const database = openDatabase(withDatabase(POSTGRES_URL, name), { poolSize: 1 });
    const client = new pg.Client({ connectionString: withDatabase(POSTGRES_URL, name) });
    await client.connect();
    const indexes = async () =>
      (
        await client.query<{ indexdef: string }>(
          "select indexdef from pg_indexes where schemaname = 'public' and tablename = 'users' and indexdef like '%email_key%' order by indexname",
        )
      ).rows.map((r) => r.indexdef.replace(/ ON public\.users USING btree/, ''));
    const plan = async (where: string) =>
      (await client.query<{ 'QUERY PLAN': string }>(`explain select id from users where ${where}`)).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    try {
      await migrateToLatest(database.db, database.dialect.name);
      assert.deepEqual(await indexes(), ['CREATE UNIQUE INDEX users_email_key_unique (email_key text_pattern_ops)']);
      await client.query('set enable_seqscan = off');
      assert.match(await plan(`email_key = 'a@example.com'`), /users_email_key_unique/);
      assert.match(await plan(`email_key like 'a%'`), /users_email_key_unique/);
      const insert = `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
        values ($1, $2, lower($2), 'N', 'n', '{}', 1, now(), now())`;
      await client.query(insert, ['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21', 'Ada@example.com']);
      await assert.rejects(client.query(insert, ['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e22', 'ADA@example.com']), {
        code: '23505',
        table: 'users',
      });
      await client.query('delete from users');
      // Prefix search no longer uses LIKE: test/users/search-plans.integration.test.ts checks its plans.
      await migrateDown(database.db, database.dialect.name); // 0011
      await migrateDown(database.db, database.dialect.name); // 0010
      await migrateDown(database.db, database.dialect.name); // 0009
      await migrateDown(database.db, database.dialect.name); // 0008
      await migrateDown(database.db, database.dialect.name); // 0007
      assert.deepEqual(await indexes(), [
        'CREATE INDEX users_email_key_prefix (email_key text_pattern_ops)',
        'CREATE UNIQUE INDEX users_email_key_unique (email_key)',
      ]);
      await migrateToLatest(database.db, database.dialect.name);
      assert.deepEqual(await indexes(), ['CREATE UNIQUE INDEX users_email_key_unique (email_key text_pattern_ops)']);
    } finally {
      await client.end();
      await database.close();
    }
  });
});
