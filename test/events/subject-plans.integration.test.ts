// A subject's events and the newest-first reads are index range scans bounded by their LIMIT, at
// 100,000 events, on a SQLite file and on PostgreSQL: no plan walks `events`. The SQL is the
// store's own (SqlEventStore.listQuery / latestQuery), compiled with its parameters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type SQLite from 'better-sqlite3';
import pg from 'pg';
import type { Compilable } from 'kysely';
import { SqlEventStore } from '../../src/events/sql-store.js';
import type { EventPageQuery, LatestEventsQuery } from '../../src/events/service.js';
import { postgresTestDatabase, postgresUnavailable, sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { executedPlan, planNodes, sqlitePlan, type PlanNode } from '../helpers/plans.js';

const EVENTS = 100_000;
/** About 5 events each, and one busy subject with 5,000. */
const SUBJECTS = 19_000;
const LIMIT = 50;

interface Case {
  readonly label: string;
  /** Rows the scan may read at most. */
  readonly bound: number;
  readonly list?: EventPageQuery;
  readonly latest?: LatestEventsQuery;
}

function cases(busy: string, quiet: string): Case[] {
  const middle = EVENTS / 2;
  return [
    { label: 'busy subject, first page', bound: LIMIT, list: { afterSequence: 0, limit: LIMIT, subjectId: busy } },
    { label: 'busy subject, after a sequence', bound: LIMIT, list: { afterSequence: middle, limit: LIMIT, subjectId: busy } },
    { label: 'quiet subject', bound: 10, list: { afterSequence: 0, limit: LIMIT, subjectId: quiet } },
    { label: 'busy subject, newest first', bound: LIMIT, latest: { limit: LIMIT, subjectId: busy } },
    {
      label: 'busy subject, newest first before a sequence',
      bound: LIMIT,
      latest: { limit: LIMIT, subjectId: busy, beforeSequence: middle },
    },
    { label: 'quiet subject, newest first', bound: 10, latest: { limit: LIMIT, subjectId: quiet } },
    { label: 'every event, newest first', bound: LIMIT, latest: { limit: LIMIT } },
    { label: 'every event, newest first before a sequence', bound: LIMIT, latest: { limit: LIMIT, beforeSequence: middle } },
    // The type filter as the forward feed has it: PostgreSQL may walk events_seq_key and filter by
    // type, reading about LIMIT / (the type's share, a third here) rows.
    { label: 'one type, newest first', bound: LIMIT * 3, latest: { limit: LIMIT, types: ['user.updated'] } },
  ];
}

/** Event i: one in 20 is the busy subject's (spread over the whole feed), the others 5 for each quiet subject. */
function rows(): { busy: string; of: (i: number) => { subject: string; type: string } } {
  const subjects = Array.from({ length: SUBJECTS }, () => uuidv7());
  const busy = uuidv7();
  const of = (i: number) => ({
    subject: i % 20 === 0 ? busy : subjects[i % SUBJECTS]!,
    type: i % 3 === 0 ? 'user.updated' : 'group.members_added',
  });
  return { busy, of };
}

describe(`a subject's events and the newest first at ${EVENTS.toLocaleString('en')} events on SQLite`, () => {
  let t: TestDatabase;
  let connection: SQLite.Database;
  let store: SqlEventStore;
  let busy: string;
  let quiet: string;
  before(async () => {
    t = await sqliteTestDatabase();
    if (t.database.driver.kind !== 'sqlite') throw new Error('expected SQLite');
    connection = t.database.driver.connection;
    store = new SqlEventStore(t.database.db, t.database.dialect);
    const made = rows();
    busy = made.busy;
    const insert = connection.prepare(
      `insert into events (seq, id, type, occurred_at, actor, request_id, subject_id, data)
       values (?, ?, ?, '2026-01-01T00:00:00.000Z', null, null, ?, '{}')`,
    );
    connection.transaction(() => {
      for (let i = 0; i < EVENTS; i++) {
        const { subject, type } = made.of(i);
        insert.run(i + 1, uuidv7(), type, subject);
      }
    })();
    quiet = (connection.prepare('select subject_id from events where subject_id <> ? limit 1').get(busy) as { subject_id: string })
      .subject_id;
  });
  after(async () => t?.cleanup());

  function plan(c: Case): string[] {
    const compiled = (c.list ? store.listQuery(c.list) : store.latestQuery(c.latest!)).compile();
    return sqlitePlan(connection, compiled.sql, compiled.parameters);
  }

  function assertRangeScans(): void {
    for (const c of cases(busy, quiet)) {
      const lines = plan(c);
      assert.equal(lines.length, 1, `${c.label}: one step, no temporary B-tree for the order: ${lines.join(' | ')}`);
      const subject = (c.list ?? c.latest)!.subjectId !== undefined;
      const types = (c.list ?? c.latest)!.types !== undefined;
      const expected = subject
        ? /^SEARCH events USING INDEX events_subject_seq \(subject_id=\?( AND seq[<>]\?)?\)$/
        : types
          ? /^SEARCH events USING INDEX events_type_seq \(type=\?( AND seq[<>]\?)?\)$/
          : /^SEARCH events USING INTEGER PRIMARY KEY \(rowid[<>]\?\)$|^SCAN events$/;
      assert.match(lines[0]!, expected, c.label);
    }
  }

  test('every read is a range of its index, in its order', () => {
    assertRangeScans();
  });

  test('and after ANALYZE', () => {
    connection.exec('analyze');
    assertRangeScans();
  });
});

const skip = await postgresUnavailable();

describe(`a subject's events and the newest first at ${EVENTS.toLocaleString('en')} events on PostgreSQL`, { skip }, () => {
  let t: TestDatabase;
  let client: pg.Client;
  let store: SqlEventStore;
  let busy: string;
  let quiet: string;
  before(async () => {
    t = await postgresTestDatabase();
    client = new pg.Client({ connectionString: t.url });
    await client.connect();
    store = new SqlEventStore(t.database.db, t.database.dialect);
    const made = rows();
    busy = made.busy;
    const subjects: string[] = [];
    const types: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const { subject, type } = made.of(i);
      subjects.push(subject);
      types.push(type);
    }
    await client.query(
      `insert into events (seq, id, type, occurred_at, subject_id, data)
       select n, gen_random_uuid(), t, now(), s, '{}' from unnest($1::uuid[], $2::text[]) with ordinality as x(s, t, n)`,
      [subjects, types],
    );
    await client.query('analyze events');
    quiet = (await client.query<{ subject_id: string }>('select subject_id from events where subject_id <> $1 limit 1', [busy])).rows[0]!
      .subject_id;
  });
  after(async () => {
    await client?.end();
    await t?.cleanup();
  });

  async function executed(query: Compilable): Promise<PlanNode> {
    const compiled = query.compile();
    return executedPlan(client, compiled.sql, compiled.parameters);
  }

  test('every read is one index scan of events, reading at most its page', async () => {
    const failures: string[] = [];
    for (const c of cases(busy, quiet)) {
      try {
        const plan = await executed(c.list ? store.listQuery(c.list) : store.latestQuery(c.latest!));
        const shown = JSON.stringify(plan);
        const all = planNodes(plan);
        assert.ok(!all.some((n) => n['Node Type'] === 'Seq Scan'), `${c.label}: no Seq Scan: ${shown}`);
        const scans = all.filter((n) => n['Relation Name'] === 'events');
        assert.equal(scans.length, 1, `${c.label}: one scan of events: ${shown}`);
        const scan = scans[0]!;
        let read: number;
        let index: string | undefined;
        if (scan['Node Type'] === 'Bitmap Heap Scan') {
          // Chosen for a range the statistics say holds a few rows (a quiet subject): the bitmap
          // reads the whole range and a Sort orders it, so the range itself must be that small.
          const bitmap = planNodes(scan).find((n) => n['Node Type'] === 'Bitmap Index Scan');
          assert.ok(bitmap?.['Index Cond'], `${c.label}: a bitmap built from an index range: ${shown}`);
          read = bitmap['Actual Rows'];
          index = bitmap['Index Name'];
        } else {
          assert.match(scan['Node Type'], /^Index (Only )?Scan$/, `${c.label}: ${shown}`);
          assert.ok(!all.some((n) => n['Node Type'] === 'Sort'), `${c.label}: the index gives the order: ${shown}`);
          read = (scan['Actual Rows'] + (scan['Rows Removed by Filter'] ?? 0)) * scan['Actual Loops'];
          index = scan['Index Name'];
        }
        assert.ok(read <= c.bound, `${c.label}: read ${read} rows, at most ${c.bound}: ${shown}`);
        if ((c.list ?? c.latest)!.subjectId !== undefined) assert.equal(index, 'events_subject_seq', c.label);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    assert.deepEqual(failures, []);
  });
});
