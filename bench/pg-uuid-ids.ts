// Migration 0010 (PostgreSQL ids as uuid, issue 15), measured: `npm run build && node dist/bench/pg-uuid-ids.js
// [--users N] [--rounds R] [--keep]`.
//
// 1. A database at migration 0008 (ids as text) filled with N users (1M by default) and one
//    `user.created` event each, in bulk (generate_series): time-ordered UUIDv7 ids, as imports and
//    the API make them; random-looking emails and names, so their indexes fill as real ones do.
// 2. A copy of it (CREATE DATABASE … TEMPLATE), migrated to the latest: the time 0010 takes.
// 3. Heap and index sizes of both, and of the text one once its indexes are rebuilt (REINDEX), since
//    0010 rebuilds every index of the tables it rewrites: that part of the gain is not the type.
// 4. GET by id on each, one query at a time from a minimal pg client: the store's GET statement,
//    named (prepared), on random existing ids; rounds alternate which database goes first.
import { loadavg } from 'node:os';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import { migrateTo, migrateToLatest } from '../src/db/migrator.js';
import { GET } from '../src/users/sql-postgres-statements.js';
import { POSTGRES_URL, withDatabase } from '../test/helpers/databases.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const USERS = arg('users', 1_000_000);
const ROUNDS = arg('rounds', 6);
const CALLS = arg('calls', 3000);
const KEEP = process.argv.includes('--keep');
const TEXT_DB = 'roster_bench_ids_text';
const UUID_DB = 'roster_bench_ids_uuid';
const out = (line: string) => process.stdout.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** A UUIDv7 as text from a millisecond time and a random UUID's remaining bits (SQL). */
const V7 = (ms: string) => `(select substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 16, 3) || substr(r, 19)
  from (select lpad(to_hex(${ms}), 12, '0') as h, gen_random_uuid()::text as r) v)`;
const BASE_MS = Date.parse('2026-01-01T00:00:00Z');

async function seed(url: string): Promise<void> {
  const database = openDatabase(url, { poolSize: 1 });
  try {
    await migrateTo(database.db, 'postgres', '0009_search_key_ranges');
  } finally {
    await database.close();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const at = "timestamptz '2026-01-01T00:00:00Z'";
    await client.query(
      `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
       select id, e, e, n, lower(n), '{"team":"bench"}', 1, ${at}, ${at}
       from (select ${V7(`${BASE_MS}::bigint + g`)} as id, 'u' || substr(md5(g::text), 1, 12) || '@example.com' as e,
               'User ' || substr(md5(g::text || 'n'), 1, 8) as n
             from generate_series(1, $1::integer) g) s`,
      [USERS],
    );
    await client.query(
      `insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
       select ${V7(`${BASE_MS}::bigint + rn`)}, 'user.created', ${at}, 'system:bench', null, id,
         jsonb_build_object('user', jsonb_build_object('id', id, 'email', email, 'name', name, 'attributes', attributes,
           'version', 1, 'created_at', '2026-01-01T00:00:00.000Z', 'updated_at', '2026-01-01T00:00:00.000Z'))
       from (select u.*, row_number() over (order by id) as rn from users u) s order by id`,
    );
    await client.query('vacuum analyze users');
    await client.query('vacuum analyze events');
  } finally {
    await client.end();
  }
}

const RELATIONS = [
  'users',
  'users_pkey',
  'users_email_key_unique',
  'users_name_key_id',
  'events',
  'events_pkey',
  'events_id_key',
  'events_type_seq',
  'events_occurred_at',
];

async function sizes(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result: Record<string, number> = {};
    for (const name of RELATIONS) {
      const { rows } = await client.query<{ n: string }>('select pg_relation_size($1::regclass) as n', [name]);
      result[name] = Number(rows[0]!.n);
    }
    for (const table of ['users', 'events']) {
      const { rows } = await client.query<{ n: string }>('select pg_indexes_size($1::regclass) as n', [table]);
      result[`${table} (all indexes)`] = Number(rows[0]!.n);
    }
    return result;
  } finally {
    await client.end();
  }
}

/** Each statement on its own (VACUUM refuses a multi-statement query: it runs in one transaction). */
async function sql(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const text of statements) await client.query(text);
  } finally {
    await client.end();
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  const textUrl = withDatabase(POSTGRES_URL, TEXT_DB);
  const uuidUrl = withDatabase(POSTGRES_URL, UUID_DB);
  try {
    out(`# PostgreSQL ids as uuid (migration 0010): ${USERS.toLocaleString('en')} users; load average ${load()}`);
    for (const name of [TEXT_DB, UUID_DB]) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${TEXT_DB}`);
    let started = performance.now();
    await seed(textUrl);
    out(`seeded (ids as text) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await admin.query(`create database ${UUID_DB} template ${TEXT_DB}`);

    const migrated = openDatabase(uuidUrl, { poolSize: 1 });
    started = performance.now();
    const loadBefore = load();
    await migrateToLatest(migrated.db, 'postgres');
    const migrationSeconds = (performance.now() - started) / 1000;
    await migrated.close();
    out(
      `migration 0010: ${migrationSeconds.toFixed(1)} s (${((migrationSeconds * 1_000_000) / USERS).toFixed(1)} s per million users and ` +
        `their events; load average before ${loadBefore}, after ${load()})`,
    );
    await sql(uuidUrl, 'vacuum analyze users', 'vacuum analyze events');

    const before = await sizes(textUrl);
    const after = await sizes(uuidUrl);

    await latency(textUrl, uuidUrl);

    await sql(textUrl, 'reindex table users', 'reindex table events');
    const reindexed = await sizes(textUrl);
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    out('\n| relation | text, as loaded (MB) | text, reindexed (MB) | uuid, after 0010 (MB) | uuid / text reindexed |');
    out('| --- | ---: | ---: | ---: | ---: |');
    for (const name of Object.keys(before)) {
      out(
        `| ${name} | ${mb(before[name]!)} | ${mb(reindexed[name]!)} | ${mb(after[name]!)} | ${(after[name]! / reindexed[name]!).toFixed(2)} |`,
      );
    }
    out(`\nload average at the end ${load()}`);
  } finally {
    if (!KEEP) for (const name of [TEXT_DB, UUID_DB]) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

/** GET by id, one at a time, on each database in turn: rounds alternate which goes first. */
async function latency(textUrl: string, uuidUrl: string): Promise<void> {
  const clients = { text: new pg.Client({ connectionString: textUrl }), uuid: new pg.Client({ connectionString: uuidUrl }) };
  await clients.text.connect();
  await clients.uuid.connect();
  try {
    const { rows } = await clients.text.query<{ id: string }>('select id from users order by random() limit $1', [CALLS]);
    const ids = rows.map((r) => r.id);
    const samples: Record<'text' | 'uuid', number[]> = { text: [], uuid: [] };
    const run = async (which: 'text' | 'uuid', record: boolean) => {
      for (const id of ids) {
        const t0 = performance.now();
        const result = await clients[which].query({ name: GET.name, text: GET.text, values: [id] });
        if (record) samples[which].push((performance.now() - t0) * 1000);
        if (result.rowCount !== 1) throw new Error(`no user ${id} in ${which}`);
      }
    };
    await run('text', false); // warm: plans, and the pages these ids read
    await run('uuid', false);
    const perRound: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order: ('text' | 'uuid')[] = round % 2 === 0 ? ['text', 'uuid'] : ['uuid', 'text'];
      const medians: string[] = [];
      for (const which of order) {
        const from = samples[which].length;
        await run(which, true);
        const mine = samples[which].slice(from).sort((a, b) => a - b);
        medians.push(`${which} ${quantile(mine, 0.5).toFixed(0)}`);
      }
      perRound.push(medians.join(' / '));
    }
    out(`\nGET by id (named statement, ${ids.length} random ids × ${ROUNDS} rounds, one in flight), µs:`);
    out('| ids | p50 | p90 | p99 | mean |');
    out('| --- | ---: | ---: | ---: | ---: |');
    for (const which of ['text', 'uuid'] as const) {
      const s = samples[which].sort((a, b) => a - b);
      const mean = s.reduce((a, b) => a + b, 0) / s.length;
      out(
        `| ${which} | ${quantile(s, 0.5).toFixed(0)} | ${quantile(s, 0.9).toFixed(0)} | ${quantile(s, 0.99).toFixed(0)} | ${mean.toFixed(0)} |`,
      );
    }
    out(`per-round medians: ${perRound.join('; ')}; load average ${load()}`);
  } finally {
    await clients.text.end();
    await clients.uuid.end();
  }
}

await main();
