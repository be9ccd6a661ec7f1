// A PostgreSQL import batch numbers its own per-user events in the round trip that commits it
// (users/postgres-batch-writer.ts NUMBERED_EVENTS_AND_COMMIT): every event of a finished import is
// numbered, the sequences follow the file's line order, and beside API writers (who number theirs
// by passes) a reader of the feed never sees a sequence below one it already saw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { UsersService } from '../../../src/users/service.js';
import { usersServiceOver } from '../../helpers/app.js';
import { feedWatcher } from '../../helpers/feed-watcher.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../../helpers/databases.js';
import { importService, runImport } from '../harness.js';

const skip = await postgresUnavailable();

const csv = (prefix: string, rows: number) =>
  ['email,name', ...Array.from({ length: rows }, (_, i) => `${prefix}-${i}@example.com,${prefix} ${i}`)].join('\n') + '\n';

/** The import's events by sequence, with the CSV line (1-based, after the header) each came from. */
async function importedEvents(pool: pg.Pool, prefix: string): Promise<{ seq: number; row: number; type: string }[]> {
  const { rows } = await pool.query<{ seq: string | null; email: string; type: string }>(
    `select e.seq, e.data->'user'->>'email' as email, e.type from events e
     where e.type in ('user.created', 'user.updated') and e.data->'user'->>'email' like $1 order by e.ord`,
    [`${prefix}-%`],
  );
  return rows.map((r) => {
    assert.notEqual(r.seq, null, `the event of ${r.email} is unnumbered`);
    return { seq: Number(r.seq), row: Number(/-(\d+)@/.exec(r.email)![1]), type: r.type };
  });
}

describe('PostgreSQL import batches number their own events', { skip }, () => {
  let t: TestDatabase;
  let pool: pg.Pool;
  let users: UsersService;
  before(async () => {
    t = await postgresTestDatabase();
    pool = new pg.Pool({ connectionString: t.url, max: 3 });
    pool.on('error', () => undefined);
    users = await usersServiceOver(t.database);
  });
  after(async () => {
    await pool?.end();
    await t?.cleanup();
  });

  test('every event of a finished import is numbered, in line order', async () => {
    const result = await runImport(importService(t.database, { batch: { maxRows: 400 } }), csv('alone', 1_000));
    assert.equal(result.job.counts.created, 1_000);
    const events = await importedEvents(pool, 'alone');
    assert.equal(events.length, 1_000);
    assert.deepEqual(
      events.map((e) => e.row),
      Array.from({ length: 1_000 }, (_, i) => i),
      'the events were inserted in line order',
    );
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i]!.seq > events[i - 1]!.seq, `line ${i} got ${events[i]!.seq}, after ${events[i - 1]!.seq}`);
    }
    const { rows } = await pool.query<{ n: string }>('select count(*) as n from events where seq is null');
    assert.equal(Number(rows[0]!.n), 0, 'no event is left for a numbering pass');
  });

  test('an upsert numbers its update events the same way', async () => {
    const service = importService(t.database, { batch: { maxRows: 150 } });
    const changed = ['email,name', ...Array.from({ length: 300 }, (_, i) => `alone-${i}@example.com,Renamed ${i}`)].join('\n') + '\n';
    const result = await runImport(service, changed, { mode: 'upsert' });
    assert.equal(result.job.counts.updated, 300);
    const updates = (await importedEvents(pool, 'alone')).filter((e) => e.type === 'user.updated');
    assert.equal(updates.length, 300);
    for (let i = 1; i < updates.length; i++) assert.ok(updates[i]!.seq > updates[i - 1]!.seq);
  });

  test('beside API writers, the feed never shows a sequence below one already seen', async () => {
    const watcher = feedWatcher(pool);
    let stop = false;
    let made = 0;
    const writers = Array.from({ length: 6 }, async () => {
      while (!stop) {
        made++;
        await users.create({ email: `api-${made}@example.com`, name: `Api ${made}` }, undefined);
      }
    });
    try {
      const result = await runImport(importService(t.database, { batch: { maxRows: 500 } }), csv('busy', 3_000));
      assert.equal(result.job.counts.created, 3_000);
    } finally {
      stop = true;
      await Promise.all(writers);
      await watcher.stop();
    }
    const events = await importedEvents(pool, 'busy');
    assert.equal(events.length, 3_000);
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq);
    assert.ok(made > 0, 'the API writers wrote while the import ran');
    assert.deepEqual(watcher.late, [], 'sequences that appeared below one already seen');
    assert.ok(watcher.polls() > 5, `only ${watcher.polls()} polls`);
  });
});
