// SqliteUserStore shares its one connection with Kysely: it runs its synchronous work at once
// only when no transaction is open on it, and otherwise waits for Kysely's lock, so it never
// runs inside (nor commits or rolls back with) someone else's transaction.
import { PROVISIONING_DEFAULTS } from '../../src/users/model.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import type SQLite from 'better-sqlite3';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { DatabaseUnavailableError } from '../../src/db/outage.js';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase, type Database } from '../../src/db/database.js';
import { sqliteDialect } from '../../src/db/dialect.js';
import { databaseMetrics } from '../../src/db/metrics.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { Deadline } from '../../src/kit/deadline.js';
import { EmailTakenError } from '../../src/users/errors.js';
import type { Attributes, Email, User, UserId, UserName } from '../../src/users/model.js';
import { toUserRow } from '../../src/users/sql-row.js';
import { OpenTransactionError } from '../../src/db/sqlite-turns.js';
import { SqliteUserStore } from '../../src/users/sqlite-store.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { created } from '../helpers/events.js';

function makeUser(): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `s-${uuidv7()}@example.com` as Email,
    name: 'Sync' as UserName,
    attributes: { a: 1 } as unknown as Attributes,
    ...PROVISIONING_DEFAULTS,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

describe('SqliteUserStore on the shared connection', () => {
  let testDb: TestDatabase;
  let database: Database;
  let connection: SQLite.Database;
  let store: SqliteUserStore;
  const registry = new Registry();
  before(async () => {
    testDb = await sqliteTestDatabase();
    await testDb.database.close();
    database = openDatabase(testDb.url, { metrics: databaseMetrics(registry) });
    await migrateToLatest(database.db, 'sqlite');
    assert.equal(database.driver.kind, 'sqlite');
    connection = database.driver.connection;
    store = new SqliteUserStore({ db: database.db, connection, observe: database.observeStatement });
  });
  after(async () => {
    await database?.close();
    await testDb?.cleanup().catch(() => undefined);
  });

  const rowOf = (id: string) => connection.prepare('select id from users where id = ?').get(id);
  const eventsOf = (id: string) => connection.prepare('select count(*) as n from events where subject_id = ?').get(id) as { n: number };

  test('with no transaction open, a create commits at once, before its promise is awaited', async () => {
    const user = makeUser();
    const pending = store.create(user, undefined, created(user));
    assert.ok(rowOf(user.id), 'committed synchronously');
    await pending;
    assert.equal(eventsOf(user.id).n, 1);
  });

  test('a create while a Kysely transaction is open waits for it and is not rolled back with it', async () => {
    const mine = makeUser();
    const theirs = makeUser();
    let pending: Promise<void> | undefined;
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(toUserRow(theirs, sqliteDialect)).execute();
        pending = store.create(mine, undefined, created(mine));
        const inside = await trx.selectFrom('users').select('id').where('id', '=', mine.id).executeTakeFirst();
        assert.equal(inside, undefined, 'the create did not run inside their transaction');
        throw new Error('their rollback');
      }),
      /their rollback/,
    );
    await pending;
    assert.ok(rowOf(mine.id), 'the create committed after their rollback');
    assert.equal(eventsOf(mine.id).n, 1);
    assert.equal(rowOf(theirs.id), undefined, 'their row rolled back');
  });

  test('a read while a Kysely transaction is open sees only what it committed', async () => {
    const uncommitted = makeUser();
    let rolledBackRead: Promise<User | undefined> | undefined;
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(toUserRow(uncommitted, sqliteDialect)).execute();
        rolledBackRead = store.get(uncommitted.id);
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.equal(await rolledBackRead, undefined, 'never saw the uncommitted row');

    const committed = makeUser();
    let committedRead: Promise<User | undefined> | undefined;
    await database.db.transaction().execute(async (trx) => {
      await trx.insertInto('users').values(toUserRow(committed, sqliteDialect)).execute();
      committedRead = store.get(committed.id);
    });
    assert.deepEqual(await committedRead, committed, 'the read waited for the commit');
  });

  test('a request that gives up while waiting for the lock does not run', async () => {
    const user = makeUser();
    const controller = new AbortController();
    let pending: Promise<void> | undefined;
    await database.db.transaction().execute(async () => {
      pending = store.create(user, undefined, created(user), controller.signal);
      controller.abort(new Error('client gone'));
    });
    await assert.rejects(pending!, /client gone/);
    assert.equal(rowOf(user.id), undefined);
  });

  test('a request whose Deadline aborts while it waits for the lock does not run', async () => {
    const user = makeUser();
    await store.create(user, undefined, created(user));
    const deadline = new Deadline(60_000, () => new Error('expired'));
    let pending: Promise<User | undefined> | undefined;
    await database.db.transaction().execute(async () => {
      pending = store.get(user.id, deadline);
      deadline.abort(new Error('client gone'));
    });
    deadline.dispose();
    await assert.rejects(pending!, /client gone/);
  });

  test("a write waiting for another connection's lock leaves the event loop free, and goes in once the lock is released", async () => {
    const other = new BetterSqlite3(connection.name);
    try {
      other.exec('BEGIN IMMEDIATE');
      const user = makeUser();
      let settled = false;
      const pending = store.create(user, undefined, created(user)).finally(() => (settled = true));
      // SQLite's own busy handler would have slept inside create() for the whole busy timeout,
      // on this thread, and refused the write before this line ran.
      await setImmediatePromise();
      await setImmediatePromise();
      assert.equal(settled, false, 'the write is still waiting for the lock');
      assert.equal(rowOf(user.id), undefined);
      other.exec('COMMIT');
      await pending;
      assert.ok(rowOf(user.id), 'written once the lock was free');
      assert.equal(eventsOf(user.id).n, 1);
      assert.equal(connection.pragma('busy_timeout', { simple: true }), 5000, "the connection's busy timeout is back");
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    }
  });

  test('a write still locked out after the busy timeout is refused as unavailable, and a cancelled one stops waiting', async () => {
    const shortWait = openDatabase(testDb.url, { metrics: databaseMetrics(new Registry()), sqliteBusyTimeoutMs: 50 });
    const other = new BetterSqlite3(connection.name);
    try {
      assert.equal(shortWait.driver.kind, 'sqlite');
      const impatient = new SqliteUserStore({
        db: shortWait.db,
        connection: shortWait.driver.connection,
        observe: shortWait.observeStatement,
      });
      other.exec('BEGIN IMMEDIATE');
      const user = makeUser();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 1);
      try {
        await assert.rejects(impatient.create(user, undefined, created(user)), DatabaseUnavailableError);
      } finally {
        clearInterval(ticker);
      }
      assert.ok(ticks > 0, 'timers ran while the write waited');

      const deadline = new Deadline(60_000, () => new Error('expired'));
      const another = makeUser();
      const cancelled = impatient.create(another, undefined, created(another), deadline);
      deadline.abort(new Error('client gone'));
      deadline.dispose();
      await assert.rejects(cancelled, /client gone/);
      other.exec('ROLLBACK');
      assert.equal(rowOf(user.id), undefined);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await shortWait.close();
    }
  });

  test('a transaction left open outside Kysely is refused, never joined', async () => {
    const user = makeUser();
    connection.exec('BEGIN');
    try {
      await assert.rejects(store.create(user, undefined, created(user)), OpenTransactionError);
    } finally {
      connection.exec('ROLLBACK');
    }
    assert.equal(rowOf(user.id), undefined);
  });

  test('each statement and the commit are in roster_db_query_duration_seconds, failures as errors', async () => {
    const count = async (operation: string, outcome: string) => {
      const values = (await registry.getSingleMetric('roster_db_query_duration_seconds')!.get()).values as {
        metricName?: string;
        labels: Record<string, unknown>;
        value: number;
      }[];
      const found = values.find(
        (v) => v.metricName?.endsWith('_count') && v.labels.operation === operation && v.labels.outcome === outcome,
      );
      return found?.value ?? 0;
    };
    const before = { insert: await count('insert', 'ok'), other: await count('other', 'ok'), failed: await count('insert', 'error') };
    const user = makeUser();
    await store.create(user, undefined, created(user));
    assert.equal(await count('insert', 'ok'), before.insert + 2, 'the user and its event');
    assert.equal(await count('other', 'ok'), before.other + 1, 'the commit');
    const clash = { ...makeUser(), email: user.email };
    await assert.rejects(store.create(clash, undefined, created(clash)), EmailTakenError);
    assert.equal(await count('insert', 'error'), before.failed + 1);
  });
});
