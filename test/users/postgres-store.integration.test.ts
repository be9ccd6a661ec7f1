// What PostgresUserStore does beyond the UserStore contract (store.integration.test.ts): a
// connection that dies under a read is retried once and under a write never, the dead client is
// not pooled, an optimistic change that lost a race is redone under the row lock, an abort stops the
// wait for a pool client, and its raw statements feed the metric.
import { PROVISIONING_DEFAULTS } from '../../src/users/model.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { observeStatements } from '../../src/db/instrumentation.js';
import { databaseMetrics } from '../../src/db/metrics.js';
import { UnavailableError } from '../../src/kit/errors.js';
import { EmailTakenError } from '../../src/users/errors.js';
import type { Attributes, Email, User, UserId, UserName } from '../../src/users/model.js';
import { PostgresUserStore } from '../../src/users/sql-postgres-store.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { created } from '../helpers/events.js';
import { pollFor } from '../helpers/server.js';

const skip = await postgresUnavailable();

function makeUser(): User {
  const now = new Date();
  const id = uuidv7() as UserId;
  return {
    id,
    email: `${id}@example.com` as Email,
    name: 'Pg' as UserName,
    attributes: {} as Attributes,
    ...PROVISIONING_DEFAULTS,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

describe('PostgresUserStore', { skip }, () => {
  let testDb: TestDatabase;
  let pool: pg.Pool;
  let locker: pg.Client;
  before(async () => {
    testDb = await postgresTestDatabase();
    if (testDb.database.driver.kind !== 'postgres') throw new Error('a PostgreSQL test database');
    pool = testDb.database.driver.pool;
    locker = new pg.Client({ connectionString: testDb.url, application_name: 'roster-test-locker' });
    await locker.connect();
  });
  after(async () => {
    await locker?.end();
    await testDb?.cleanup();
  });

  /**
   * Runs `call` while an ACCESS EXCLUSIVE lock on users holds it at its statement, terminates
   * the backend it waits on, then lets go of the lock; returns how `call` settled.
   */
  async function terminatedWhileWaiting<T>(call: () => Promise<T>): Promise<PromiseSettledResult<T>> {
    await locker.query('begin');
    await locker.query('lock table users in access exclusive mode');
    const settled = call().then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    );
    const waiting = async () => {
      const { rows } = await locker.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and application_name = 'roster' and wait_event_type = 'Lock'`,
      );
      return rows[0]?.pid;
    };
    const pid = await pollFor('the store to wait on the table lock', waiting);
    await locker.query('select pg_terminate_backend($1)', [pid]);
    // A read retried on a fresh connection waits on the lock again: release it only then.
    await pollFor('the terminated backend to be gone', async () => (await waiting()) !== pid);
    await locker.query('commit');
    return settled;
  }

  test('a read whose connection dies under it runs once more on a fresh one', async () => {
    const store = new PostgresUserStore(pool, () => undefined);
    const user = makeUser();
    await store.create(user, undefined, created(user));
    const outcome = await terminatedWhileWaiting(() => store.get(user.id));
    assert.equal(outcome.status, 'fulfilled');
    assert.deepEqual(outcome.value, user);
  });

  test('a write whose connection dies under it fails as UnavailableError, is not retried, and its client is not pooled', async () => {
    const store = new PostgresUserStore(pool, () => undefined);
    const user = makeUser();
    const outcome = await terminatedWhileWaiting(() => store.create(user, undefined, created(user)));
    assert.equal(outcome.status, 'rejected');
    assert.ok(outcome.reason instanceof UnavailableError, String(outcome.reason));
    assert.equal(await store.get(user.id), undefined, 'the write was not retried');
    // Every pooled client still works: a dead one handed out again would fail this.
    await Promise.all(Array.from({ length: 10 }, () => store.get(user.id)));
  });

  test('an abort stops the wait for a pool client, and the client that comes later goes back to the pool', async () => {
    const small = new pg.Pool({ connectionString: testDb.url, max: 1 });
    try {
      const store = new PostgresUserStore(small, () => undefined);
      const held = await small.connect();
      const controller = new AbortController();
      const waiting = store.get(uuidv7() as UserId, controller.signal);
      await pollFor('the call to queue for the pool', () => small.waitingCount === 1);
      const reason = new Error('the client went away');
      controller.abort(reason);
      await assert.rejects(waiting, (error) => error === reason);
      held.release();
      await pollFor('the late client to return to the pool', () => small.idleCount === 1 && small.waitingCount === 0);
      assert.equal(await store.get(uuidv7() as UserId), undefined);
    } finally {
      await small.end();
    }
  });

  test('an update or delete whose optimistic write finds the row changed runs again under the row lock', async () => {
    const store = new PostgresUserStore(pool, () => undefined);
    const user = makeUser();
    await store.create(user, undefined, created(user));
    // A timestamp finer than a JS Date: the row never matches what was read, as if it had changed.
    const skew = () => locker.query(`update users set updated_at = updated_at + interval '1 microsecond' where id = $1`, [user.id]);
    await skew();
    const events = async () => Number((await locker.query('select count(*) as n from events')).rows[0].n);
    const before = await events();
    const seen: number[] = [];
    const after = await store.update(
      user.id,
      (u) => {
        seen.push(u.version);
        return { ...u, name: 'Locked' as UserName, version: u.version + 1 };
      },
      () => created(user),
    );
    assert.deepEqual(seen, [1, 1], 'the callback ran twice: optimistically, then under the lock');
    assert.equal(after.name, 'Locked');
    assert.equal((await store.get(user.id))?.name, 'Locked');
    assert.equal(await events(), before + 1, 'one event');

    await skew();
    let checks = 0;
    await store.delete(
      user.id,
      () => void checks++,
      () => created(user),
    );
    assert.equal(checks, 2);
    assert.equal(await store.get(user.id), undefined);
    assert.equal(await events(), before + 2);
  });

  test('every statement is one sample of roster_db_query_duration_seconds, by operation and outcome', async () => {
    const registry = new Registry();
    const store = new PostgresUserStore(pool, observeStatements('postgresql', databaseMetrics(registry)));
    const user = makeUser();
    await store.create(user, undefined, created(user));
    await store.get(user.id);
    await store.list({ limit: 10 });
    await assert.rejects(store.create({ ...makeUser(), email: user.email }, undefined, created(user)), EmailTakenError);
    await store.update(
      user.id,
      (u) => ({ ...u, name: 'Changed' as UserName, version: 2 }),
      () => created(user),
    );
    const samples = (await registry.getMetricsAsJSON()).find((m) => m.name === 'roster_db_query_duration_seconds')!.values;
    const counts = new Map(
      (samples as { metricName?: string; labels: Record<string, unknown>; value: number }[])
        .filter((v) => v.metricName === 'roster_db_query_duration_seconds_count')
        .map((v) => [`${String(v.labels.operation)}/${String(v.labels.outcome)}`, v.value]),
    );
    assert.deepEqual(Object.fromEntries(counts), {
      'insert/ok': 1,
      'insert/error': 1,
      'select/ok': 3, // get, list, the update's SELECT … FOR UPDATE
      'update/ok': 1,
    });
  });
});
