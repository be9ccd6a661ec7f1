// Every list and search statement the users stores run is an index range scan bounded by its
// LIMIT, at 100,000 users, on a SQLite file and on PostgreSQL: no plan walks `users`, whatever the
// prefix or the cursor. The SQL is the stores' own (their statement builders), with parameters
// made by the same functions the stores call, for every shape: no cursor and a cursor, with and
// without the email, the external id and the active state, prefixes that match almost
// everything, a few users, or nobody.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type SQLite from 'better-sqlite3';
import pg from 'pg';
import type { UserId } from '../../src/users/model.js';
import { prefixRange, type KeyRange } from '../../src/users/search.js';
import type { KeyRangeQuery, UserPageQuery } from '../../src/users/service.js';
import * as postgres from '../../src/users/sql-postgres-statements.js';
import * as sqlite from '../../src/users/sqlite-statements.js';
import { postgresTestDatabase, postgresUnavailable, sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { executedPlan, planNodes, sqlitePlan, type PlanNode } from '../helpers/plans.js';

const USERS = 100_000;
/** Names shared by 100 users each, so a name scan meets long runs of equal keys. */
const NAMES = 1_000;
const LIMITS = [2, 51, 201];

const email = (i: number) => `u${i}@example.com`;
const name = (i: number) => `user ${i % NAMES}`;
/** Every other user has an external id; one in ten is deactivated. */
const externalId = (i: number) => (i % 2 === 0 ? `Ext-${i}` : null);
const active = (i: number) => i % 10 !== 0;

interface Case {
  readonly label: string;
  readonly limit: number;
  /** The number of rows the scan may read at most: the limit, and one more the email scan's filter may drop. */
  readonly bound: number;
  readonly list?: UserPageQuery;
  readonly search?: KeyRangeQuery;
}

/** Every shape of both statement kinds, with parameters from the stores' own functions. */
function cases(ids: { middle: UserId }): Case[] {
  const out: Case[] = [];
  const prefixes: [string, KeyRange][] = [
    ['common prefix', prefixRange('u')],
    ['a few', prefixRange('user 99')],
    ['rare prefix', prefixRange('zq')],
    ['open-ended range', { from: 'user 5', below: undefined }],
  ];
  for (const limit of LIMITS) {
    out.push({ label: `list, first page, limit ${limit}`, limit, bound: limit, list: { limit } });
    out.push({ label: `list after a cursor, limit ${limit}`, limit, bound: limit, list: { limit, afterId: ids.middle } });
    out.push({ label: `list by email`, limit, bound: 1, list: { limit, emailKey: email(500) } });
    out.push({ label: `list by email after a cursor`, limit, bound: 1, list: { limit, emailKey: email(500), afterId: ids.middle } });
    for (const state of [true, false]) {
      out.push({ label: `list active=${state}, limit ${limit}`, limit, bound: limit, list: { limit, active: state } });
      out.push({ label: `list active=${state} after a cursor`, limit, bound: limit, list: { limit, active: state, afterId: ids.middle } });
      out.push({ label: `list by email, active=${state}`, limit, bound: 1, list: { limit, emailKey: email(500), active: state } });
      out.push({
        label: `list by external id, active=${state}`,
        limit,
        bound: 1,
        list: { limit, externalId: externalId(500)!, active: state, afterId: ids.middle },
      });
      out.push({
        label: `list by email and external id, active=${state}`,
        limit,
        bound: 1,
        list: { limit, emailKey: email(500), externalId: externalId(500)!, active: state },
      });
    }
    out.push({ label: `list by external id`, limit, bound: 1, list: { limit, externalId: externalId(500)! } });
    out.push({ label: `list by an unknown external id`, limit, bound: 1, list: { limit, externalId: 'ext-500' } });
    out.push({
      label: `list by email and external id`,
      limit,
      bound: 1,
      list: { limit, emailKey: email(500), externalId: externalId(500)!, afterId: ids.middle },
    });
    for (const [what, range] of prefixes) {
      out.push({ label: `list by email and ${what}`, limit, bound: 1, list: { limit, emailKey: email(500), prefix: range } });
      for (const state of [undefined, true]) {
        const activeFilter = state === undefined ? {} : { active: state };
        out.push({
          label: `list by external id and ${what}${state === undefined ? '' : ', active'}`,
          limit,
          bound: 1,
          list: { limit, externalId: externalId(500)!, prefix: range, ...activeFilter },
        });
        out.push({
          label: `list by email, external id and ${what}${state === undefined ? '' : ', active'}`,
          limit,
          bound: 1,
          list: { limit, emailKey: email(500), externalId: externalId(500)!, prefix: range, ...activeFilter },
        });
        if (state !== undefined) {
          out.push({
            label: `list by email, active and ${what}`,
            limit,
            bound: 1,
            list: { limit, emailKey: email(500), prefix: range, active: state },
          });
        }
      }
      for (const key of ['email', 'name'] as const) {
        out.push({
          label: `search ${key}, ${what}, first page, limit ${limit}`,
          limit,
          bound: limit + 1,
          search: { key, after: { key: range.from, id: '' }, below: range.below, limit },
        });
        const mid = key === 'email' ? email(54_321) : name(543);
        out.push({
          label: `search ${key}, ${what}, after a cursor, limit ${limit}`,
          limit,
          bound: limit + 1,
          search: { key, after: { key: mid, id: ids.middle }, below: range.below, limit },
        });
      }
    }
  }
  return out;
}

describe(`list and search plans at ${USERS.toLocaleString('en')} users on SQLite`, () => {
  let t: TestDatabase;
  let connection: SQLite.Database;
  let middle: UserId;
  before(async () => {
    t = await sqliteTestDatabase();
    if (t.database.driver.kind !== 'sqlite') throw new Error('expected SQLite');
    connection = t.database.driver.connection;
    const insert = connection.prepare(
      `insert into users (id, email, email_key, name, name_key, external_id, active, attributes, version, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, '{}', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    );
    const ids: string[] = [];
    connection.transaction(() => {
      for (let i = 0; i < USERS; i++) {
        const id = uuidv7();
        ids.push(id);
        insert.run(id, email(i), email(i), name(i), name(i), externalId(i), active(i) ? 1 : 0);
      }
    })();
    middle = ids[USERS / 2] as UserId;
  });
  after(async () => t?.cleanup());

  /** The plan's lines (helpers/plans.ts sqlitePlan()). */
  function plan(c: Case): string[] {
    const { text, params } =
      c.list !== undefined
        ? (({ shape, params }) => ({ text: sqlite.listText(shape), params }))(sqlite.listStatementOf(c.list))
        : (({ shape, params }) => ({ text: sqlite.searchText(shape), params }))(sqlite.searchStatementOf(c.search!));
    return sqlitePlan(connection, text, params);
  }

  function assertRangeScans(): void {
    const all = cases({ middle });
    for (const c of all) {
      const lines = plan(c);
      assert.equal(lines.length, 1, `${c.label}: one step, no temporary B-tree for the order: ${lines.join(' | ')}`);
      assert.match(lines[0]!, /^SEARCH users USING (COVERING )?INDEX \w+ \(.*[<>=].*\)$/, `${c.label}: an index range`);
      // A unique key finds the one user (with both, either index does); else the active state's range, else the primary key.
      const expected =
        c.list?.emailKey !== undefined && c.list.externalId !== undefined
          ? '(users_email_key_unique|users_external_id_unique)'
          : c.list?.emailKey !== undefined || c.search?.key === 'email'
            ? 'users_email_key_unique'
            : c.list?.externalId !== undefined
              ? 'users_external_id_unique'
              : c.list?.active !== undefined
                ? 'users_active_id'
                : c.search?.key === 'name'
                  ? 'users_name_key_id'
                  : 'sqlite_autoindex_users_1';
      assert.match(lines[0]!, new RegExp(`INDEX ${expected} `), c.label);
    }
    // Every shape of both builders was checked.
    const shapes = new Set(all.map((c) => (c.list ? sqlite.listStatementOf(c.list).shape : sqlite.searchStatementOf(c.search!).shape)));
    assert.equal(new Set([...shapes].map((s) => JSON.stringify(s))).size, sqlite.listShapes().length + sqlite.searchShapes().length);
  }

  test('every shape is SEARCH … USING INDEX with range constraints, before ANALYZE', () => {
    assertRangeScans();
  });

  test('and after ANALYZE', () => {
    connection.exec('analyze');
    assertRangeScans();
  });
});

const skip = await postgresUnavailable();

describe(`list and search plans at ${USERS.toLocaleString('en')} users on PostgreSQL`, { skip }, () => {
  let t: TestDatabase;
  let client: pg.Client;
  let middle: UserId;
  before(async () => {
    t = await postgresTestDatabase();
    client = new pg.Client({ connectionString: t.url });
    await client.connect();
    // Ids sort as UUIDv7 do: a hex counter in the time field, random bits after.
    await client.query(
      `insert into users (id, email, email_key, name, name_key, external_id, active, attributes, version, created_at, updated_at)
       select (lpad(to_hex(i), 8, '0') || substr(gen_random_uuid()::text, 9))::uuid, 'u' || i || '@example.com', 'u' || i || '@example.com',
              'user ' || (i % $2), 'user ' || (i % $2), case when i % 2 = 0 then 'Ext-' || i end, i % 10 <> 0, '{}', 1, now(), now()
       from generate_series(0, $1 - 1) as i`,
      [USERS, NAMES],
    );
    await client.query('analyze users');
    const { rows } = await client.query<{ id: UserId }>('select id from users order by id offset $1 limit 1', [USERS / 2]);
    middle = rows[0]!.id;
  });
  after(async () => {
    await client?.end();
    await t?.cleanup();
  });

  /** Runs the statement as the store does (prepared), under a generic or a custom plan, and returns its executed plan. */
  async function executed(c: Case, mode: 'force_generic_plan' | 'force_custom_plan'): Promise<PlanNode> {
    const { statement, values } = c.list !== undefined ? postgres.listStatementOf(c.list) : postgres.searchStatementOf(c.search!);
    await client.query(`set plan_cache_mode = ${mode}`);
    await client.query(`prepare probe as ${statement.text}`);
    try {
      // EXECUTE takes its arguments as SQL text, not as bound parameters.
      const args = values
        .map((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : client.escapeLiteral(String(v))))
        .join(', ');
      return await executedPlan(client, `execute probe(${args})`);
    } finally {
      await client.query('deallocate probe');
    }
  }

  for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
    test(`every shape is one bounded index scan of users (${mode})`, async () => {
      const every = cases({ middle });
      for (const c of every) {
        const plan = await executed(c, mode);
        const shown = JSON.stringify(plan);
        const all = planNodes(plan);
        assert.ok(!all.some((n) => n['Node Type'] === 'Seq Scan'), `${c.label}: no Seq Scan: ${shown}`);
        const scans = all.filter((n) => n['Relation Name'] === 'users');
        assert.equal(scans.length, 1, `${c.label}: one scan of users: ${shown}`);
        const scan = scans[0]!;
        let read: number;
        if (scan['Node Type'] === 'Bitmap Heap Scan') {
          // Chosen (custom plans only) for a range the statistics say holds a few rows: the
          // bitmap reads every row of the range, so the range itself must be that small.
          const index = planNodes(scan).find((n) => n['Node Type'] === 'Bitmap Index Scan');
          assert.ok(index?.['Index Cond'], `${c.label}: a bitmap built from an index range: ${shown}`);
          read = index['Actual Rows'];
        } else {
          assert.match(scan['Node Type'], /^Index (Only )?Scan$/, `${c.label}: ${shown}`);
          assert.ok(scan['Index Cond'], `${c.label}: the index scan has a range condition: ${shown}`);
          read = (scan['Actual Rows'] + (scan['Rows Removed by Filter'] ?? 0)) * scan['Actual Loops'];
        }
        assert.ok(read <= c.bound, `${c.label}: read ${read} rows, at most ${c.bound}: ${shown}`);
        // The index gives the order; a sort is only over what a bounded read returned.
        const sorted = all.some((n) => n['Node Type'] === 'Sort');
        assert.ok(!sorted || mode === 'force_custom_plan' || c.bound === 1, `${c.label}: a generic plan sorts nothing: ${shown}`);
      }
      const shapes = new Set(
        every.map((c) => (c.list ? postgres.listStatementOf(c.list) : postgres.searchStatementOf(c.search!)).statement.name),
      );
      assert.equal(shapes.size, sqlite.listShapes().length + sqlite.searchShapes().length, 'every shape was checked');
    });
  }
});
