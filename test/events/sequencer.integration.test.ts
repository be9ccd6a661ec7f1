// PostgreSQL numbers events after they commit (events/sql-sequencer.ts, migration 0014). The rule
// every reader relies on: a sequence never appears below one a reader has already seen.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import {
  EVENT_SEQUENCE_LOCK,
  hasOrphanedEvents,
  NUMBER_EVENTS,
  SEQUENCING_BATCH,
  sequencerForKysely,
  sequencerForPool,
} from '../../src/events/sql-sequencer.js';
import { openDatabase } from '../../src/db/database.js';
import { newUuidV7 } from '../../src/kit/uuid.js';
import type { UsersService } from '../../src/users/service.js';
import { usersServiceOver } from '../helpers/app.js';
import { feedWatcher } from '../helpers/feed-watcher.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';

const skip = await postgresUnavailable();

/** Waits for `check`, polling; generous for a loaded machine. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const INSERT_EVENT = `insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
  values ($1, 'user.created', now(), null, null, $2, '{}'::jsonb)`;

describe('event sequencing on PostgreSQL', { skip }, () => {
  let t: TestDatabase;
  let pool: pg.Pool;
  let users: UsersService;
  let made = 0;
  before(async () => {
    t = await postgresTestDatabase();
    pool = new pg.Pool({ connectionString: t.url, max: 4 });
    // Dropping the database at the end terminates idle connections: an idle client's error must not crash the file.
    pool.on('error', () => undefined);
    users = await usersServiceOver(t.database);
  });
  after(async () => {
    await pool?.end();
    await t?.cleanup();
  });

  const create = () => {
    made++;
    return users.create({ email: `seq-${made}@example.com`, name: `Seq ${made}` }, undefined);
  };
  const numbered = async (id: string) =>
    (await pool.query<{ seq: string | null }>('select seq from events where id = $1', [id])).rows[0]?.seq ?? null;

  test('concurrent writers and a slow committer: no sequence appears below one already seen', async () => {
    const watcher = feedWatcher(pool);
    let stopWriters = async () => {};
    const slow = new pg.Client({ connectionString: t.url });
    await slow.connect();
    try {
      // The slow transaction writes its event first, then stays open while others commit and are numbered.
      const slowId = newUuidV7();
      await slow.query('begin');
      await slow.query(INSERT_EVENT, [slowId, newUuidV7()]);
      let stop = false;
      const writers = Array.from({ length: 16 }, async () => {
        while (!stop) await create();
      });
      stopWriters = async () => {
        stop = true;
        await Promise.all(writers);
      };
      await until('writers numbered past the open transaction', () => watcher.highest() >= 200);
      assert.equal(await numbered(slowId), null, 'not numbered while uncommitted');
      // The writers finish (each create answers once its event is numbered) before the commit: a
      // writer's pass running after the commit could number the slow event and others above it
      // before the highest seen is read, and the comparison below would race it.
      await stopWriters();
      assert.equal(await numbered(slowId), null, 'not numbered while uncommitted, the writers done');
      await slow.query('commit');
      const highestAtCommit = watcher.highest();
      // Its number comes from a pass after its commit: above everything numbered before.
      assert.equal(await sequencerForPool(pool).sequence(), undefined);
      const slowSeq = Number(await numbered(slowId));
      assert.ok(slowSeq > highestAtCommit, `the slow event got ${slowSeq}, above ${highestAtCommit}`);
      await until('the watcher saw everything', async () => {
        const { rows } = await pool.query<{ n: string }>('select count(*) as n from events where seq is not null');
        return watcher.seen.size >= Number(rows[0]!.n);
      });
    } finally {
      // Writers left running after a failure would write into the next tests.
      await stopWriters();
      await slow.end();
      await watcher.stop();
    }
    assert.deepEqual(watcher.late, [], 'sequences that appeared below one already seen');
    assert.ok(watcher.polls() > 10, `only ${watcher.polls()} polls`);
  });

  test('a stalled pass (the lock held): writers wait, nothing appears, then all appear above', async () => {
    const watcher = feedWatcher(pool);
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await until('the watcher caught up', async () => watcher.polls() > 2);
      const highestBefore = watcher.highest();
      await holder.query('select pg_advisory_lock($1)', [EVENT_SEQUENCE_LOCK]);
      let returned = 0;
      const writes = Array.from({ length: 8 }, () => create().then(() => returned++));
      await until('eight committed, unnumbered', async () => {
        const { rows } = await pool.query<{ n: string }>('select count(*) as n from events where seq is null');
        return Number(rows[0]!.n) >= 8;
      });
      assert.equal(returned, 0, 'a create answers only once its event is numbered');
      assert.equal(watcher.highest(), highestBefore, 'nothing numbered while a pass is stalled');
      await holder.query('select pg_advisory_unlock($1)', [EVENT_SEQUENCE_LOCK]);
      await Promise.all(writes);
      const { rows } = await pool.query<{ n: string }>('select count(*) as n from events where seq is null');
      assert.equal(Number(rows[0]!.n), 0);
      await until('the watcher saw them', async () => watcher.highest() >= highestBefore + 8);
    } finally {
      await holder.end();
      await watcher.stop();
    }
    assert.deepEqual(watcher.late, []);
  });

  test('a pass that dies before its commit numbers nothing; the next numbers its rows above, leaving an unseen gap', async () => {
    const watcher = feedWatcher(pool);
    const dying = new pg.Client({ connectionString: t.url });
    await dying.connect();
    try {
      const orphanId = newUuidV7();
      // A writer that committed and died before asking for a pass.
      await pool.query(INSERT_EVENT, [orphanId, newUuidV7()]);
      await until('it is an orphan', () => hasOrphanedEvents(pool, 0));
      await dying.query('begin');
      await dying.query('select pg_advisory_xact_lock($1)', [EVENT_SEQUENCE_LOCK]);
      const drawn = await dying.query<{ seq: string }>(`${NUMBER_EVENTS} returning e.seq`, [1000]);
      assert.equal(drawn.rowCount, 1);
      await dying.query('rollback');
      const error = await sequencerForPool(pool).sequence();
      assert.equal(error, undefined);
      const seq = Number(await numbered(orphanId));
      assert.ok(seq > Number(drawn.rows[0]!.seq), 'numbered again, above the rolled-back number');
      assert.equal(await hasOrphanedEvents(pool, 0), false);
      await until('the watcher saw it', async () => watcher.seen.has(seq));
    } finally {
      await dying.end();
      await watcher.stop();
    }
    assert.deepEqual(watcher.late, []);
  });

  test("a Kysely instance's own sequencer numbers a backlog larger than one pass, in insertion order", async () => {
    // A Kysely instance no pool's sequencer was shared with (shareSequencer()) runs its passes
    // through Kysely, a statement at a time (kyselyPass()).
    const own = openDatabase(t.url, { poolSize: 1 });
    try {
      const backlog = SEQUENCING_BATCH + 10;
      await pool.query(
        `insert into events (id, type, occurred_at, actor, subject_id, data)
           select gen_random_uuid(), 'user.created', now(), 'kysely-pass', gen_random_uuid(), '{}'::jsonb from generate_series(1, $1)`,
        [backlog],
      );
      await sequencerForKysely(own.db).sequence();
      const { rows } = await pool.query<{ events: number; unnumbered: number; out_of_order: number }>(
        `select count(*)::int as events, count(*) filter (where seq is null)::int as unnumbered,
           count(*) filter (where seq < previous)::int as out_of_order
         from (select seq, lag(seq) over (order by ord) as previous from events where actor = 'kysely-pass') e`,
      );
      assert.deepEqual(rows[0], { events: backlog, unnumbered: 0, out_of_order: 0 });
    } finally {
      await own.close();
    }
  });

  test('events committed one after another and numbered by one pass keep that order', async () => {
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [EVENT_SEQUENCE_LOCK]);
      const ids = [newUuidV7(), newUuidV7(), newUuidV7()].reverse();
      // Ids in descending order, committed one after another: the order is the commits', not the ids'.
      for (const id of ids) await pool.query(INSERT_EVENT, [id, newUuidV7()]);
      const pass = sequencerForPool(pool).sequence();
      await holder.query('select pg_advisory_unlock($1)', [EVENT_SEQUENCE_LOCK]);
      assert.equal(await pass, undefined);
      const seqs = await Promise.all(ids.map(async (id) => Number(await numbered(id))));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'numbered in commit order',
      );
    } finally {
      await holder.end();
    }
  });
});
