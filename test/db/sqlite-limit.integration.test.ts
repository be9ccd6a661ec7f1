// A bound LIMIT written `limit ?` makes SQLite (3.53 with STAT4, better-sqlite3's build) prepare
// the statement anew on every run (db/sqlite-steps.ts SQLITE_LIMIT). Every statement prepared on
// any better-sqlite3 connection while this file runs is recorded (the prototype's prepare is
// wrapped before the database is made): the migrations, the stores' statements (every list and
// search shape), Kysely's queries, the services' pages, the webhook delivery store's own texts
// and the export's connection. None may carry a bare `limit ?`, and the pages hold their limit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { listShapes, prepareUserStatements, searchShapes } from '../../src/users/sqlite-statements.js';
import type { Services } from '../../src/compose/services.js';
import { exportUsers } from '../../src/imports/export/export.js';
import { SqlDeliveryStore } from '../../src/webhooks/sql-delivery-store.js';
import { servicesOver } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';

const BARE_LIMIT = /\blimit\s+\?/i;

describe('SQLite statements with a bound LIMIT', () => {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with each connection as `this`, and put back after
  const prepare = BetterSqlite3.prototype.prepare;
  const texts: string[] = [];
  let testDb: TestDatabase;
  let services: Services;
  const pageSizes: Record<string, number> = {};
  before(async () => {
    BetterSqlite3.prototype.prepare = function recorded(this: BetterSqlite3.Database, text: string) {
      texts.push(text);
      return prepare.call(this, text);
    } as typeof prepare;
    testDb = await sqliteTestDatabase();
    const { database } = testDb;
    if (database.driver.kind !== 'sqlite') throw new Error('a SQLite database was expected');
    services = await servicesOver(database);
    const statements = prepareUserStatements(database.driver.connection);
    for (const shape of listShapes()) statements.list(shape);
    for (const shape of searchShapes()) statements.search(shape);
    for (let i = 0; i < 5; i++) {
      await services.users.create({ email: `limit-${i}@example.com`, name: `Limit ${i}` }, undefined);
      await services.groups.create({ display_name: `Limit group ${i}` });
    }
    pageSizes.users = (await services.users.list({ limit: 3 })).users.length;
    pageSizes.search = (await services.users.list({ limit: 3, q: 'limit' })).users.length;
    pageSizes.groups = (await services.groups.list({ limit: 2 })).items.length;
    pageSizes.events = (await services.events.feed({ limit: 4 })).events.length;
    pageSizes.kysely = (await database.db.selectFrom('users').select('id').limit(2).execute()).length;
    const deliveries = new SqlDeliveryStore(database.db, database.dialect);
    const now = new Date();
    await deliveries.claim('sqlite-limit-test', now, new Date(now.getTime() + 60_000), 4);
    pageSizes.eventsAfter = (await deliveries.eventsAfter(0, Number.MAX_SAFE_INTEGER, null, 2)).length;
    let exported = '';
    for await (const chunk of exportUsers(database, { format: 'ndjson' })) exported += chunk;
    pageSizes.exported = exported.trim().split('\n').length;
  });
  after(async () => {
    BetterSqlite3.prototype.prepare = prepare;
    await services?.close();
    await testDb?.cleanup();
  });

  test('pages hold exactly their limit', () => {
    assert.deepEqual(pageSizes, { users: 3, search: 3, groups: 2, events: 4, kysely: 2, eventsAfter: 2, exported: 5 });
  });

  test('no statement prepared on any connection has a bare `limit ?`', () => {
    const limited = texts.filter((text) => /\blimit\b/i.test(text));
    assert.ok(
      limited.length >= listShapes().length + searchShapes().length + 6,
      `only ${limited.length} statements with a limit were seen`,
    );
    assert.deepEqual(
      limited.filter((text) => BARE_LIMIT.test(text)),
      [],
    );
  });
});
