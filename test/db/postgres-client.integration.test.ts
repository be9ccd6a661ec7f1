// checkout() on a real pg pool: the wait for a free client stops when the work is cancelled, and
// neither a pool that can serve at once nor a wait makes the request's AbortSignal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { checkout, withClient } from '../../src/db/postgres-client.js';
import { Deadline } from '../../src/kit/deadline.js';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/databases.js';

const skip = await postgresUnavailable();

/** A request's Deadline that counts how often its AbortSignal was asked for. */
class CountedDeadline extends Deadline {
  signalReads = 0;

  constructor() {
    // Long enough never to fire in a test; disposed by each test.
    super(600_000, () => new Error('deadline'));
  }

  override get signal(): AbortSignal {
    this.signalReads++;
    return super.signal;
  }
}

describe('checkout() from a PostgreSQL pool', { skip }, () => {
  let pool: pg.Pool;
  before(() => {
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1, connectionTimeoutMillis: 60_000 });
  });
  after(async () => {
    await pool.end();
  });

  /** Until the pool holds its one client idle: a released client goes back on a later turn. */
  async function idle(): Promise<void> {
    while (pool.idleCount !== 1 || pool.waitingCount !== 0) await new Promise((resolve) => setImmediate(resolve));
  }

  test('an idle client is handed over without the AbortSignal being made', async () => {
    await withClient(pool, undefined, (client) => client.query('select 1'));
    await idle();
    const deadline = new CountedDeadline();
    try {
      const { rows } = await withClient(pool, deadline, (client) => client.query('select 2 as n'));
      assert.deepEqual(rows, [{ n: 2 }]);
      assert.equal(deadline.signalReads, 0);
    } finally {
      deadline.dispose();
    }
  });

  test('work cancelled before its checkout gets no client', async () => {
    await idle();
    const deadline = new CountedDeadline();
    deadline.cancel(new Error('gone'));
    await assert.rejects(checkout(pool, deadline), { message: 'gone' });
    assert.equal(pool.idleCount, 1);
    deadline.dispose();
  });

  test('work cancelled while an idle client is on its way gets none, and the client stays pooled', async () => {
    await idle();
    const deadline = new CountedDeadline();
    const pending = checkout(pool, deadline);
    deadline.cancel(new Error('gone'));
    await assert.rejects(pending, { message: 'gone' });
    await idle();
    assert.equal(pool.totalCount, 1);
    deadline.dispose();
  });

  test('a wait for a free client stops at the cancellation; the client that comes later goes back to the pool', async () => {
    await idle();
    const held = await checkout(pool, undefined);
    const deadline = new CountedDeadline();
    try {
      const waiting = checkout(pool, deadline);
      assert.equal(pool.waitingCount, 1);
      deadline.cancel(new Error('deadline passed'));
      await assert.rejects(waiting, { message: 'deadline passed' });
      assert.equal(deadline.signalReads, 0, 'the wait listens to the Deadline without making its AbortSignal');
    } finally {
      held.release();
      deadline.dispose();
    }
    await idle();
    const { rows } = await withClient(pool, undefined, (client) => client.query('select 3 as n'));
    assert.deepEqual(rows, [{ n: 3 }]);
  });

  test('a wait stopped by an AbortSignal gets no client, and the pool serves the next caller', async () => {
    await idle();
    const held = await checkout(pool, undefined);
    const controller = new AbortController();
    try {
      const waiting = checkout(pool, controller.signal);
      assert.equal(pool.waitingCount, 1);
      controller.abort(new Error('client gone'));
      await assert.rejects(waiting, { message: 'client gone' });
    } finally {
      held.release();
    }
    await idle();
    assert.equal(pool.totalCount, 1);
    const { rows } = await withClient(pool, new AbortController().signal, (client) => client.query('select 4 as n'));
    assert.deepEqual(rows, [{ n: 4 }]);
  });
});
