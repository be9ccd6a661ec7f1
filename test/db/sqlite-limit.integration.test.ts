// A bound LIMIT written `limit ?` makes SQLite (3.53 with STAT4, better-sqlite3's build) prepare
// the statement anew on every run (db/sqlite-steps.ts SQLITE_LIMIT). Every statement Roster
// prepares on SQLite is recorded here as the connection is asked for it, through the stores'
// own statements (every list and search shape), Kysely's queries and the services' pages: none
// may carry a bare `limit ?`, and the pages still hold exactly their limit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type SQLite from 'better-sqlite3';
import { listShapes, prepareUserStatements, searchShapes } from '../../src/users/sqlite-statements.js';
import type { Services } from '../../src/compose/services.js';
import { servicesOver } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';

const BARE_LIMIT = /\blimit\s+\?/i;

describe('SQLite statements with a bound LIMIT', () => {
  let testDb: TestDatabase;
  let services: Services;
  const texts: string[] = [];
  before(async () => {
    testDb = await sqliteTestDatabase();
    const driver = testDb.database.driver;
    if (driver.kind !== 'sqlite') throw new Error('a SQLite database was expected');
    const connection: SQLite.Database = driver.connection;
    const prepare = connection.prepare.bind(connection);
    connection.prepare = (text: string) => {
      texts.push(text);
      return prepare(text);
    };
    services = await servicesOver(testDb.database);
    const statements = prepareUserStatements(connection);
    for (const shape of listShapes()) statements.list(shape);
    for (const shape of searchShapes()) statements.search(shape);
  });
  after(async () => {
    await services?.close();
    await testDb?.cleanup();
  });

  test('pages through the services hold exactly their limit', async () => {
    for (let i = 0; i < 5; i++) {
      await services.users.create({ email: `limit-${i}@example.com`, name: `Limit ${i}` }, undefined);
      await services.groups.create({ display_name: `Limit group ${i}` });
    }
    assert.equal((await services.users.list({ limit: 3 })).users.length, 3);
    assert.equal((await services.users.list({ limit: 3, q: 'limit' })).users.length, 3);
    assert.equal((await services.groups.list({ limit: 2 })).items.length, 2);
    assert.equal((await services.events.feed({ limit: 4 })).events.length, 4);
    assert.equal((await testDb.database.db.selectFrom('users').select('id').limit(2).execute()).length, 2);
  });

  test('no statement prepared on the connection has a bare `limit ?`', () => {
    const limited = texts.filter((text) => /\blimit\b/i.test(text));
    assert.ok(limited.length >= listShapes().length + searchShapes().length, `only ${limited.length} statements with a limit were seen`);
    assert.deepEqual(
      limited.filter((text) => BARE_LIMIT.test(text)),
      [],
    );
  });
});
