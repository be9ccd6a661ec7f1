// The PostgreSQL users store, measured (issue 14): `npm run bench:pg-writers [-- --quick]`.
//
// (a) µs per call of create, get, list(50) and update on ~100k users, one caller at a time, of
//     PostgresUserStore (pg, prepared statements; the Kysely store it replaced is in bench/RESULTS.md).
// (b) 50 concurrent creates for a few seconds each: commits/s and p50/p99 latency for
//     PostgresUserStore and its statement without the event sequence lock. The lock-less variants exist only here, to
//     price the lock; beside each, a reader polling the feed counts sequences that appeared below
//     one it had already seen (what the lock prevents).
import { PROVISIONING_DEFAULTS } from '../src/users/model.js';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase, type Database } from '../src/db/database.js';
import { postgresDialect } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import type { NewEvent } from '../src/events/model.js';
import { EVENT_SEQUENCE_LOCK, toEventRow } from '../src/events/sql-outbox.js';
import { userCreated, userUpdated } from '../src/users/events.js';
import type { Attributes, Email, User, UserId, UserName } from '../src/users/model.js';
import type { UserStore } from '../src/users/service.js';
import { PostgresUserStore } from '../src/users/sql-postgres-store.js';
import { CREATE } from '../src/users/sql-postgres-statements.js';
import { toUserRow } from '../src/users/sql-row.js';
import { POSTGRES_URL, withDatabase } from '../test/helpers/databases.js';
import { writeResultsSection } from './results-file.js';

const RESULTS = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));
const QUICK = process.argv.includes('--quick');
const SEED_USERS = 100_000;
const ROUNDS = QUICK ? 2 : 5;
const CALLS = { get: QUICK ? 300 : 2000, list: QUICK ? 100 : 500, create: QUICK ? 100 : 500, update: QUICK ? 100 : 500 };
const WRITERS = 50;
const WRITE_SECONDS = QUICK ? 2 : 6;
const DATABASE = 'roster_bench_pg_writers';

const out = (line: string) => process.stdout.write(`${line}\n`);

function newUser(): { user: User; event: NewEvent } {
  const now = new Date();
  const id = uuidv7() as UserId;
  const user: User = {
    id,
    email: `${id}@bench.example` as Email,
    name: 'Bench User' as UserName,
    attributes: { team: 'bench', level: 3 } as unknown as Attributes,
    ...PROVISIONING_DEFAULTS,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  return { user, event: userCreated(uuidv7(), user, { actor: 'bench' }) };
}

async function freshDatabase(admin: pg.Client, poolSize: number): Promise<Database> {
  await admin.query(`drop database if exists ${DATABASE} with (force)`);
  await admin.query(`create database ${DATABASE}`);
  const database = openDatabase(withDatabase(POSTGRES_URL, DATABASE), { poolSize });
  await migrateToLatest(database.db, database.dialect.name);
  return database;
}

function poolOf(database: Database): pg.Pool {
  if (database.driver.kind !== 'postgres') throw new Error('PostgreSQL only');
  return database.driver.pool;
}

async function seed(pool: pg.Pool): Promise<string[]> {
  await pool.query(
    `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
     select id, 'seed-' || g || '@example.com', 'seed-' || g || '@example.com', 'Seed ' || g, 'seed ' || g,
            '{"team":"seed"}'::jsonb, 1, date_trunc('milliseconds', now()), date_trunc('milliseconds', now())
     from (select g, gen_random_uuid() as id from generate_series(1, ${SEED_USERS}) g) s`,
  );
  await pool.query('analyze users');
  const { rows } = await pool.query<{ id: string }>('select id from users order by random() limit 1000');
  return rows.map((r) => r.id);
}

// ---- (a) one caller at a time -------------------------------------------------------------------

async function perCall(calls: number, call: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, calls); i++) await call(i); // warm plans and pool
  const started = performance.now();
  for (let i = 0; i < calls; i++) await call(i);
  return ((performance.now() - started) * 1000) / calls;
}

async function sequential(database: Database): Promise<string[]> {
  const ids = await seed(poolOf(database));
  const stores: [string, UserStore][] = [
    ['PostgresUserStore (pg, prepared)', new PostgresUserStore(poolOf(database), database.observeStatement)],
  ];
  const samples = new Map<string, number[]>();
  const record = (key: string, us: number) => samples.set(key, [...(samples.get(key) ?? []), us]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, store] of round % 2 === 0 ? stores : [...stores].reverse()) {
      record(`${name}|get`, await perCall(CALLS.get, (i) => store.get(ids[i % ids.length] as UserId)));
      record(`${name}|list(50)`, await perCall(CALLS.list, (i) => store.list({ limit: 51, afterId: ids[i % ids.length] as UserId })));
      record(
        `${name}|create`,
        await perCall(CALLS.create, () => {
          const { user, event } = newUser();
          return store.create(user, undefined, event);
        }),
      );
      record(
        `${name}|update`,
        await perCall(CALLS.update, (i) =>
          store.update(
            ids[i % ids.length] as UserId,
            (u) => ({ ...u, name: `Renamed ${i}` as UserName, version: u.version + 1, updatedAt: new Date() }),
            (before, after) => userUpdated(uuidv7(), before, after, { actor: 'bench' }),
          ),
        ),
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines = [
    `(a) µs per call, one caller, ${SEED_USERS.toLocaleString('en')} users; median of ${ROUNDS} alternating rounds`,
    `(get ×${CALLS.get}, list(50) = limit 51 after a random id ×${CALLS.list}, create without idempotency key ×${CALLS.create},`,
    `update (rename) of a random user ×${CALLS.update}):`,
    '',
    '| store | get | list(50) | create | update |',
    '|---|---|---|---|---|',
  ];
  for (const [name] of stores) {
    const cell = (op: string) => median(samples.get(`${name}|${op}`)!).toFixed(0);
    lines.push(`| ${name} | ${cell('get')} | ${cell('list(50)')} | ${cell('create')} | ${cell('update')} |`);
  }
  return lines;
}

// ---- (b) 50 concurrent writers -------------------------------------------------------------------

type Create = () => Promise<unknown>;

/**
 * PostgresUserStore's create statement on its own, its event left unnumbered (measurement only):
 * `locked` puts back the advisory lock the writers took before migration 0014 (held through the
 * COMMIT), so the old serialisation is priced in the same run; without it, the commit alone.
 */
function bareStatement(pool: pg.Pool, locked: boolean): Create {
  const text = locked
    ? CREATE.text
        .replace(
          /\ninsert into events/,
          `, sequenced as materialized (select pg_advisory_xact_lock(${EVENT_SEQUENCE_LOCK}) from created)\ninsert into events`,
        )
        .replace(/ from created$/, ' from sequenced')
    : CREATE.text;
  if (locked && !text.includes('from sequenced')) throw new Error('the create statement changed shape');
  return async () => {
    const { user, event } = newUser();
    const u = toUserRow(user, postgresDialect);
    const e = toEventRow(event, postgresDialect);
    await pool.query({
      name: locked ? 'bench.create-locked' : 'bench.create-bare',
      text,
      values: [
        ...[u.id, u.email, u.email_key, u.name, u.name_key, u.attributes, u.version, u.created_at, u.updated_at],
        ...[e.id, e.type, e.occurred_at, e.actor, e.request_id, e.subject_id, e.data],
      ],
    });
  };
}

function viaStore(store: UserStore): Create {
  return () => {
    const { user, event } = newUser();
    return store.create(user, undefined, event);
  };
}

/** Polls the feed as a reader does and counts sequences that showed up below the highest it had seen. */
function feedReader(pool: pg.Pool, start: number): { stop(): Promise<{ polls: number; late: number }> } {
  let running = true;
  const done = (async () => {
    let floor = start; // every sequence <= floor has been seen (or never will be: rolled back)
    let maxSeen = start;
    const seen = new Set<number>();
    let polls = 0;
    let late = 0;
    while (running) {
      const { rows } = await pool.query<{ seq: string }>({
        name: 'bench.feed',
        text: 'select seq from events where seq > $1 order by seq',
        values: [floor],
      });
      polls++;
      for (const { seq } of rows) {
        const n = Number(seq);
        if (seen.has(n)) continue;
        if (n < maxSeen) late++;
        seen.add(n);
        maxSeen = Math.max(maxSeen, n);
      }
      while (seen.has(floor + 1)) seen.delete(++floor);
    }
    return { polls, late };
  })();
  return {
    async stop() {
      running = false;
      return done;
    },
  };
}

async function concurrent(
  pool: pg.Pool,
  create: Create,
): Promise<{ perSecond: number; p50: number; p99: number; late: number; polls: number }> {
  const { rows } = await pool.query<{ seq: string | null }>('select max(seq) as seq from events');
  const reader = feedReader(pool, Number(rows[0]?.seq ?? 0));
  const latencies: number[] = [];
  const until = performance.now() + WRITE_SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await create();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const { late, polls } = await reader.stop();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), late, polls };
}

async function writers(database: Database): Promise<string[]> {
  const pool = poolOf(database);
  const variants: [string, Create][] = [
    [
      'PostgresUserStore (commit, then a numbering pass: events/sql-sequencer.ts)',
      viaStore(new PostgresUserStore(pool, database.observeStatement)),
    ],
    ['its statement with the pre-0014 sequence lock held to COMMIT (measurement only)', bareStatement(pool, true)],
    ['its statement alone, no lock, events not numbered (measurement only)', bareStatement(pool, false)],
  ];
  const lines = [
    `(b) ${WRITERS} concurrent creates for ${WRITE_SECONDS} s each (pool of ${WRITERS} + 1 feed reader); latency in ms;`,
    '"late" = sequences a reader polling the feed saw appear below one it had already seen:',
    '',
    '| variant | commits/s | p50 | p99 | late (reader polls) |',
    '|---|---|---|---|---|',
  ];
  for (const [name, create] of variants) {
    for (let i = 0; i < 100; i++) await create(); // warm every connection's statements a little
    const r = await concurrent(pool, create);
    lines.push(`| ${name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.late} (${r.polls}) |`);
    out(lines.at(-1)!);
  }
  return lines;
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    const database = await freshDatabase(admin, WRITERS + 1);
    const lines: string[] = [];
    try {
      const { rows } = await admin.query<{ server_version: string }>('show server_version');
      lines.push(`PostgreSQL ${rows[0]?.server_version}, ${new Date().toISOString().slice(0, 10)}${QUICK ? ', --quick' : ''}.`, '');
      lines.push(...(await sequential(database)));
      lines.forEach((l) => out(l));
      lines.push('');
      lines.push(...(await writers(database)));
    } finally {
      await database.close();
      await admin.query(`drop database if exists ${DATABASE} with (force)`);
    }
    await writeResultsSection(RESULTS, 'pg-writers', `## PostgreSQL users store (\`npm run bench:pg-writers\`)\n\n${lines.join('\n')}`);
  } finally {
    await admin.end();
  }
}

await main();
