// Every write on SQLite waits for another process's write lock (a `roster import` beside the
// server) asynchronously: the event loop stays free, the write goes in once the lock is released,
// and past the busy timeout it is refused as SQLite's own wait would have refused it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import type { Services } from '../../src/compose/services.js';
import { openDatabase } from '../../src/db/database.js';
import { databaseMetrics } from '../../src/db/metrics.js';
import { lockedByAnother } from '../../src/db/sqlite-lock.js';
import { DatabaseUnavailableError } from '../../src/db/outage.js';
import { PROVISIONING_DEFAULTS, type Attributes, type Email, type UserName } from '../../src/users/model.js';
import { SqliteUserBatchWriter } from '../../src/users/sqlite-batch-writer.js';
import { servicesOver } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';

const unique = () => uuidv7().slice(-12);

/** Another process's connection to the same file, holding the write lock until released. */
function lockHolder(file: string): { release(): void; close(): void } {
  const other = new BetterSqlite3(file);
  other.exec('BEGIN IMMEDIATE');
  return {
    release: () => other.exec('COMMIT'),
    close: () => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    },
  };
}

/** Two turns of the event loop: SQLite's own busy handler would have slept (and refused the write) before either ran. */
async function turnsOfTheLoop(): Promise<void> {
  await setImmediatePromise();
  await setImmediatePromise();
}

describe("SQLite writes waiting for another process's lock", () => {
  let testDb: TestDatabase;
  let services: Services;
  before(async () => {
    testDb = await sqliteTestDatabase();
    services = await servicesOver(testDb.database);
    await sql`create table lock_probe (n integer)`.execute(testDb.database.db);
  });
  after(async () => {
    await services?.close();
    await testDb?.cleanup();
  });

  test('every kind of write leaves the event loop free while it waits, and goes in once the lock is released', async () => {
    const { db } = testDb.database;
    const holder = lockHolder(testDb.url);
    const settled = new Set<string>();
    const track = <T>(name: string, write: Promise<T>) => write.finally(() => settled.add(name));
    try {
      const writes = [
        // The users and groups stores: prepared statements in one BEGIN IMMEDIATE transaction.
        track('user', services.users.create({ email: `lock-${unique()}@example.com`, name: 'Locked Out' }, undefined)),
        track('group', services.groups.create({ display_name: `Locked ${unique()}` })),
        // Kysely transactions: an API key, a webhook endpoint.
        track('key', services.apiKeys.create({ name: `locked ${unique()}`, scopes: ['users:read'] })),
        track('endpoint', services.webhooks.create({ url: 'https://hooks.example.com/roster', event_types: ['user.created'] })),
        // A Kysely write outside a transaction (as an API key's last-used time).
        track('autocommit', sql`insert into lock_probe (n) values (1)`.execute(db)),
      ];
      await turnsOfTheLoop();
      assert.deepEqual([...settled], [], 'no write finished (or failed) while the lock was held');
      holder.release();
      const [user, group, key, endpoint] = (await Promise.all(writes)) as [
        Awaited<ReturnType<Services['users']['create']>>,
        Awaited<ReturnType<Services['groups']['create']>>,
        Awaited<ReturnType<Services['apiKeys']['create']>>,
        Awaited<ReturnType<Services['webhooks']['create']>>,
      ];
      assert.ok(await services.users.get(user.user.id));
      assert.ok(await services.groups.get(group.group.id));
      assert.ok(await services.apiKeys.principalOf(key.record.id));
      assert.ok(await services.webhooks.get(endpoint.endpoint.id));
      const probe = await sql<{ n: number }>`select count(*) as n from lock_probe`.execute(db);
      assert.equal(probe.rows[0]!.n, 1);
      assert.equal(connectionOf(testDb).pragma('busy_timeout', { simple: true }), 5000, "the connection's busy timeout is back");
    } finally {
      holder.close();
    }
  });

  test('a Kysely transaction holds the write lock from its BEGIN, so another process cannot commit between its read and its write', async () => {
    const other = new BetterSqlite3(testDb.url);
    other.pragma('busy_timeout = 0');
    try {
      await testDb.database.db.transaction().execute(async (trx) => {
        await sql`select count(*) from lock_probe`.execute(trx);
        assert.throws(
          () => other.exec('BEGIN IMMEDIATE'),
          (error: unknown) => lockedByAnother(error),
        );
        await sql`insert into lock_probe (n) values (2)`.execute(trx);
      });
      other.exec('BEGIN IMMEDIATE');
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
  });

  test('a read-only Kysely transaction takes no lock and does not wait', async () => {
    const holder = lockHolder(testDb.url);
    try {
      const counted = await testDb.database.db
        .transaction()
        .setAccessMode('read only')
        .execute((trx) => sql<{ n: number }>`select count(*) as n from lock_probe`.execute(trx));
      assert.ok(counted.rows[0]!.n >= 1);
    } finally {
      holder.close();
    }
  });

  test('an import batch waits off the event loop too', async () => {
    const { database } = testDb;
    assert.equal(database.driver.kind, 'sqlite');
    const writer = new SqliteUserBatchWriter({
      db: database.db,
      connection: database.driver.connection,
      run: { id: uuidv7(), mode: 'create', events: true, context: { actor: 'system:test' } },
      newId: uuidv7,
    });
    const email = `batch-${unique()}@example.com` as Email;
    const holder = lockHolder(testDb.url);
    try {
      let settled = false;
      const written = writer
        .write(
          [
            {
              line: 2,
              user: { email, name: 'Batch' as UserName, attributes: {} as Attributes, ...PROVISIONING_DEFAULTS },
              maybeDuplicate: false,
            },
          ],
          () => undefined,
          new AbortController().signal,
        )
        .finally(() => (settled = true));
      await turnsOfTheLoop();
      assert.equal(settled, false, 'the batch is still waiting for the lock');
      holder.release();
      assert.equal((await written).created, 1);
      const stored = await sql<{ n: number }>`select count(*) as n from users where email = ${email}`.execute(database.db);
      assert.equal(stored.rows[0]!.n, 1);
    } finally {
      holder.close();
      await writer.close();
    }
  });

  test('past the busy timeout a write is refused with the lock error while timers keep running, and the connection stays usable', async () => {
    const impatient = openDatabase(testDb.url, { metrics: databaseMetrics(new Registry()), sqliteBusyTimeoutMs: 50 });
    const impatientServices = await servicesOver(impatient);
    const holder = lockHolder(testDb.url);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      await assert.rejects(sql`insert into lock_probe (n) values (3)`.execute(impatient.db), (error: unknown) => lockedByAnother(error));
      await assert.rejects(
        impatient.db.transaction().execute((trx) => sql`insert into lock_probe (n) values (4)`.execute(trx)),
        (error: unknown) => lockedByAnother(error),
      );
      await assert.rejects(impatientServices.groups.create({ display_name: `Refused ${unique()}` }), DatabaseUnavailableError);
      assert.ok(ticks > 0, 'timers ran while the writes waited');
      holder.release();
      await sql`insert into lock_probe (n) values (5)`.execute(impatient.db);
      const probe = await sql<{ n: number }>`select count(*) as n from lock_probe where n in (3, 4, 5)`.execute(impatient.db);
      assert.equal(probe.rows[0]!.n, 1, 'only the write made after the release went in');
    } finally {
      clearInterval(ticker);
      holder.close();
      await impatientServices.close();
      await impatient.close();
    }
  });
});

describe('lockedByAnother', () => {
  test('finds SQLITE_BUSY and its extended codes however deep the wrapping, and nothing else', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const snapshot = Object.assign(new Error('snapshot'), { code: 'SQLITE_BUSY_SNAPSHOT' });
    assert.equal(lockedByAnother(busy), true);
    assert.equal(lockedByAnother(new Error('outer', { cause: new Error('middle', { cause: snapshot }) })), true);
    assert.equal(lockedByAnother(Object.assign(new Error('full'), { code: 'SQLITE_FULL' })), false);
    assert.equal(lockedByAnother(new Error('plain')), false);
    assert.equal(lockedByAnother(undefined), false);
    assert.equal(lockedByAnother('SQLITE_BUSY'), false);
  });
});

function connectionOf(testDb: TestDatabase): BetterSqlite3.Database {
  const { driver } = testDb.database;
  assert.equal(driver.kind, 'sqlite');
  return driver.connection;
}
