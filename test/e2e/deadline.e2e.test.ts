import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ServerProcess } from '../helpers/server.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';

const DEADLINE_MS = 500;

describe('the request deadline reaches PostgreSQL', { skip: await postgresUnavailable() }, () => {
  let testDb: TestDatabase;
  let server: ServerProcess;
  let locker: pg.Client;
  before(async () => {
    testDb = await postgresTestDatabase();
    server = await ServerProcess.start({ databaseUrl: testDb.url, env: { ROSTER_REQUEST_TIMEOUT_MS: String(DEADLINE_MS) } });
    locker = new pg.Client({ connectionString: testDb.url });
    await locker.connect();
  });
  after(async () => {
    await locker?.end().catch(() => undefined);
    await server?.kill();
    await testDb?.cleanup();
  });

  const rosterQueriesWaiting = async () => {
    const { rows } = await locker.query<{ n: string }>(
      `select count(*) as n from pg_stat_activity
        where datname = current_database() and application_name = 'roster' and state = 'active' and wait_event_type = 'Lock'`,
    );
    return Number(rows[0]!.n);
  };

  test('a PATCH stuck behind a row lock answers 504 at the deadline and its statement is cancelled', async () => {
    const headers = { ...server.auth, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'l@example.com', name: 'Locked' }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };

    await locker.query('begin');
    await locker.query('select id from users where id = $1 for update', [id]);
    const started = performance.now();
    const res = await fetch(`${server.url}/v1/users/${id}`, {
      method: 'PATCH',
      headers: { ...server.auth, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ name: 'Changed' }),
    });
    const took = performance.now() - started;
    assert.equal(res.status, 504, await res.clone().text());
    assert.equal(((await res.json()) as { type: string }).type, 'urn:roster:problem:deadline-exceeded');
    assert.ok(took >= DEADLINE_MS - 50 && took < DEADLINE_MS + 2500, `answered after ${Math.round(took)} ms`);

    // statement_timeout (the same deadline) cancelled the waiting UPDATE server-side: nothing of
    // Roster's is left queued on the lock, although the lock is still held.
    let waiting = await rosterQueriesWaiting();
    for (let waited = 0; waiting > 0 && waited < 2000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      waiting = await rosterQueriesWaiting();
    }
    assert.equal(waiting, 0);
    await locker.query('rollback');

    const after = await fetch(`${server.url}/v1/users/${id}`, { headers: server.auth });
    const user = (await after.json()) as { name: string; version: number };
    assert.deepEqual([user.name, user.version], ['Locked', 1], 'the cancelled change left nothing behind');
    // The request log is written in batches (observability/logger.ts): wait for the line.
    await server.waitForLog((l) => l.msg === 'request' && l.status === 504, 'the 504 request line');
  });
});
