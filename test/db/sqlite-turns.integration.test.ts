// SqliteTurns (src/db/sqlite-turns.ts) is how the users and groups stores step statements on
// the connection Kysely shares: at once when no transaction is open, after Kysely's transaction
// otherwise, never inside a transaction someone else left open, errors through the store's own
// translation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import type SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { OpenTransactionError, SqliteTurns } from '../../src/db/sqlite-turns.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';

class Translated extends Error {}

describe('SqliteTurns', () => {
  let testDb: TestDatabase;
  let connection: SQLite.Database;
  let turns: SqliteTurns;
  const count = () => (connection.prepare('select count(*) as n from turns_probe').get() as { n: number }).n;
  before(async () => {
    testDb = await sqliteTestDatabase();
    const driver = testDb.database.driver;
    if (driver.kind !== 'sqlite') throw new Error('a SQLite database was expected');
    connection = driver.connection;
    turns = new SqliteTurns(testDb.database.db, connection, (error) => new Translated('translated', { cause: error }));
    await sql`create table turns_probe (n integer not null)`.execute(testDb.database.db);
  });
  after(() => testDb?.cleanup());

  test('with no transaction open the work runs at once; what it throws leaves translated', async () => {
    let ran = false;
    const done = turns.run(() => (ran = true));
    assert.equal(ran, true, 'ran before the first await');
    assert.equal(await done, true);
    const failed = await turns.run(() => connection.prepare('select * from no_such_table').all()).catch((error: unknown) => error);
    assert.ok(failed instanceof Translated);
    assert.match(String((failed.cause as Error).message), /no such table/);
  });

  test("a Kysely transaction's turn comes first: the work waits for its commit, then sees its rows", async () => {
    let seen: number | undefined;
    let waiting: Promise<number> | undefined;
    await testDb.database.db.transaction().execute(async (trx) => {
      await sql`insert into turns_probe (n) values (1)`.execute(trx);
      waiting = turns.run(() => (seen = count()));
      await setImmediatePromise();
      await setImmediatePromise();
      assert.equal(seen, undefined, 'not run inside the open transaction');
    });
    assert.equal(await waiting, 1);
  });

  test('a transaction left open outside Kysely is refused, never joined', async () => {
    connection.exec('BEGIN');
    try {
      const refused = await turns.run(() => count()).catch((error: unknown) => error);
      assert.ok(refused instanceof Translated);
      assert.ok(refused.cause instanceof OpenTransactionError);
    } finally {
      connection.exec('ROLLBACK');
    }
  });

  test('cancelled while waiting for its turn, the work never runs', async () => {
    const cancel = new AbortController();
    let ran = false;
    let waiting: Promise<unknown> | undefined;
    await testDb.database.db.transaction().execute(async () => {
      waiting = turns.run(() => (ran = true), cancel.signal).catch((error: unknown) => error);
      cancel.abort(new Error('client gone'));
      await setImmediatePromise();
    });
    const outcome = await waiting;
    assert.equal(ran, false);
    assert.ok(outcome instanceof Translated);
    assert.match((outcome.cause as Error).message, /client gone/);
  });

  test('a write commits through write(), and one that throws changes nothing', async () => {
    const before = count();
    await turns.write(() => connection.transaction(() => connection.prepare('insert into turns_probe (n) values (2)').run()).immediate());
    assert.equal(count(), before + 1);
    await assert.rejects(
      turns.write(() =>
        connection
          .transaction(() => {
            connection.prepare('insert into turns_probe (n) values (3)').run();
            throw new Error('changed my mind');
          })
          .immediate(),
      ),
      Translated,
    );
    assert.equal(count(), before + 1);
  });
});
