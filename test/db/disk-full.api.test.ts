// SQLite's disk fills up (PRAGMA max_page_count caps the file): writes answer 503 `unavailable`
// with Retry-After, the log names the cause in one line, nothing half-written remains, the
// file stays intact, and writes succeed again once there is room — without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { capturedLogs } from '../helpers/logs.js';

describe('SQLite disk full', () => {
  let t: TestApp;
  const { logger, lines } = capturedLogs();
  before(async () => {
    t = await buildTestApp(undefined, { logger });
  });
  after(async () => t?.close());

  test('503 with Retry-After and one log line naming the cause; intact file; writes resume when there is room', async () => {
    const driver = t.testDb.database.driver;
    assert.equal(driver.kind, 'sqlite');
    const connection = driver.connection;
    const pages = connection.pragma('page_count', { simple: true }) as number;
    connection.pragma(`max_page_count = ${pages + 4}`);

    let full: { statusCode: number; headers: Record<string, unknown>; body: string } | undefined;
    let created = 0;
    for (let i = 0; i < 2000 && full === undefined; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/users',
        payload: { email: `full-${i}@example.com`, name: `Full ${i} ${'x'.repeat(150)}`, attributes: { note: 'y'.repeat(300) } },
      });
      if (res.statusCode === 201) created++;
      else full = res;
    }
    assert.ok(full !== undefined, 'the capped file filled up');
    assert.equal(full.statusCode, 503, full.body);
    const problem = JSON.parse(full.body) as { type: string; detail: string };
    assert.equal(problem.type, 'urn:roster:problem:unavailable');
    assert.match(problem.detail, /database disk is full/);
    assert.ok(Number(full.headers['retry-after']) > 0, 'Retry-After on the 503');
    const naming = lines.filter((l) => JSON.stringify(l).includes('database disk is full'));
    assert.equal(naming.length, 1, JSON.stringify(lines.slice(-3)));

    assert.equal(connection.pragma('integrity_check', { simple: true }), 'ok');
    const users = connection.prepare('select count(*) as n from users').get() as { n: number };
    const events = connection.prepare("select count(*) as n from events where type = 'user.created'").get() as { n: number };
    assert.equal(users.n, created, 'the failed write left no user behind');
    assert.equal(events.n, created, 'and no event');

    connection.pragma('max_page_count = 1073741823');
    const again = await t.app.inject({ method: 'POST', url: '/v1/users', payload: { email: 'room@example.com', name: 'Room' } });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(connection.pragma('integrity_check', { simple: true }), 'ok');
  });
});
