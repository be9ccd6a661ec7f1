/**
 * The PostgreSQL read path of two builds, in one process: each build's own users store (its
 * statements, pg type parsing, row mapping) and its own wire writer (users/document.ts), on
 * copies of one seeded database, rounds interleaved (order alternated). It reports this
 * process's CPU µs per operation, which is Roster's share of a GET by id or a 50-row page
 * without the HTTP server around it: the HTTP A/B (bench/ab.ts AB_DATABASE=postgres) moves by
 * ±50% a round on this shared machine, this by a few percent. PostgreSQL's own CPU is not in it.
 *
 *   node dist/bench/pg-reads.js <baseline dist folder>
 *
 * Settings: PG_READS_ROUNDS (7), PG_READS_GETS (2000 a round), PG_READS_PAGES (200 a round),
 * PG_READS_USERS (20000), BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres).
 * Also the parts alone, per value: pg's timestamptz parser against the text path. Reports,
 * never asserts.
 */
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type * as ComposeUsers from '../src/compose/users.js';
import type * as DatabaseModule from '../src/db/database.js';
import type * as UserDocument from '../src/users/document.js';
import { createPostgresDatabase, dropPostgresDatabase, seedPostgres, seedUsers } from './seed.js';

const env = process.env;
const ROUNDS = Number(env.PG_READS_ROUNDS ?? 7);
const GETS = Number(env.PG_READS_GETS ?? 2000);
const PAGES = Number(env.PG_READS_PAGES ?? 200);
const USERS = Number(env.PG_READS_USERS ?? 20_000);
const ADMIN_URL = env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

interface Build {
  readonly label: string;
  readonly store: {
    get(id: string): Promise<unknown>;
    list(query: { limit: number }): Promise<unknown[]>;
  };
  readonly userJson: (user: unknown) => string;
  readonly userPageJson: (users: readonly unknown[], next: string | null) => string;
  close(): Promise<void>;
}

async function openBuild(label: string, dist: string, url: string): Promise<Build> {
  const from = (path: string) => import(resolve(dist, path));
  const { openDatabase } = (await from('src/db/database.js')) as typeof DatabaseModule;
  const { userStoreFor } = (await from('src/compose/users.js')) as typeof ComposeUsers;
  const document = (await from('src/users/document.js')) as typeof UserDocument;
  const database = openDatabase(url);
  const store = userStoreFor(database) as unknown as Build['store'];
  return {
    label,
    store,
    userJson: document.userJson as Build['userJson'],
    userPageJson: document.userPageJson as Build['userPageJson'],
    close: () => database.close(),
  };
}

const cpuNow = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function measure(build: Build, ids: readonly string[]): Promise<{ get: number; page: number; bytes: number }> {
  let bytes = 0;
  let started = cpuNow();
  for (let i = 0; i < GETS; i++) {
    const user = await build.store.get(ids[(i * 7919) % ids.length]!);
    bytes += build.userJson(user).length;
  }
  const get = (cpuNow() - started) / GETS;
  started = cpuNow();
  for (let i = 0; i < PAGES; i++) bytes += build.userPageJson(await build.store.list({ limit: 50 }), null).length;
  return { get, page: (cpuNow() - started) / PAGES, bytes };
}

/** µs per call of `work` over `n` calls, best of 5. */
function microbench(n: number, work: (i: number) => unknown): number {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let r = 0; r < 5; r++) {
    const started = cpuNow();
    for (let i = 0; i < n; i++) sink += work(i) === undefined ? 0 : 1;
    best = Math.min(best, (cpuNow() - started) / n);
  }
  if (sink < 0) console.log(sink);
  return best;
}

async function parts(): Promise<void> {
  const { types } = createRequire(import.meta.url)('pg') as typeof pg;
  const { isoFromPostgresTimestamp, parseIsoTimestamp } = await import('../src/kit/iso-time.js');
  const pgParse = types.getTypeParser(types.builtins.TIMESTAMPTZ) as (text: string) => Date;
  const jsonbParse = types.getTypeParser(types.builtins.JSONB) as (text: string) => unknown;
  const times = Array.from(
    { length: 1000 },
    (_, i) => `2026-12-05 13:${String(i % 60).padStart(2, '0')}:34.${String(i).padStart(3, '0')}+00`,
  );
  const json = '{"title": "Software Engineer", "location": "Berlin", "department": "engineering", "employee_number": 100000}';
  const n = 200_000;
  console.log('Per value (CPU µs, best of 5):');
  console.log(`  timestamptz: pg's parser → Date ${microbench(n, (i) => pgParse(times[i % 1000]!)).toFixed(3)}`);
  console.log(`    + toISOString() when written ${microbench(n, (i) => pgParse(times[i % 1000]!).toISOString()).toFixed(3)}`);
  console.log(
    `  timestamptz as text → ISO text → Date ${microbench(n, (i) => parseIsoTimestamp(isoFromPostgresTimestamp(times[i % 1000]!)!)).toFixed(3)}`,
  );
  console.log(`  jsonb: pg's parser (JSON.parse) ${microbench(n, () => jsonbParse(json)).toFixed(3)}`);
  const parsed = JSON.parse(json) as unknown;
  console.log(
    `    + JSON.stringify() when written ${microbench(n, () => JSON.stringify(parsed)).toFixed(3)} (the text path splices instead)`,
  );
}

async function main(): Promise<void> {
  const baseline = process.argv[2];
  if (baseline === undefined) throw new Error('usage: node dist/bench/pg-reads.js <baseline dist folder>');
  const here = resolve(new URL('..', import.meta.url).pathname);
  const prefix = `roster_pg_reads_${process.pid}`;
  const names = [`${prefix}_seed`, `${prefix}_0`, `${prefix}_1`];
  const builds: Build[] = [];
  try {
    const users = seedUsers(USERS);
    await seedPostgres(await createPostgresDatabase(ADMIN_URL, names[0]!), users);
    builds.push(await openBuild('before', resolve(baseline), await createPostgresDatabase(ADMIN_URL, names[1]!, names[0])));
    builds.push(await openBuild('after', here, await createPostgresDatabase(ADMIN_URL, names[2]!, names[0])));
    // Warm up: named statements prepared on every pooled connection, code optimised.
    for (const build of builds) await measure(build, users.ids);
    const runs = new Map<string, { get: number; page: number; bytes: number }[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        runs.set(build.label, [...(runs.get(build.label) ?? []), await measure(build, users.ids)]);
      }
    }
    const [a, b] = [runs.get('before')!, runs.get('after')!];
    console.log(
      `${ROUNDS} interleaved rounds, ${GETS} gets and ${PAGES} pages of 50 each, ${USERS} users (PostgreSQL), CPU µs per operation:`,
    );
    for (const key of ['get', 'page'] as const) {
      const ratios = a.map((r, i) => `${((100 * b[i]![key]) / r[key]).toFixed(0)}%`).join(' ');
      console.log(
        `  ${key === 'get' ? 'get + userJson' : 'list(50) + userPageJson'}: ${median(a.map((r) => r[key])).toFixed(1)} → ${median(b.map((r) => r[key])).toFixed(1)} (after/before per round ${ratios})`,
      );
    }
    console.log(`  bytes written per round: ${a[0]!.bytes} → ${b[0]!.bytes}`);
    await parts();
  } finally {
    for (const build of builds) await build.close().catch(() => undefined);
    for (const name of names)
      await dropPostgresDatabase(ADMIN_URL, name).catch((error: unknown) => console.error(`drop ${name}: ${String(error)}`));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
