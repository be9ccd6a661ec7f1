// Migrations on PostgreSQL when one database holds several schemas (a shared cluster, or one
// schema per tenant or per test): each schema must get its own bookkeeping tables.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
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
});
