/**
 * The SQLite users store of two or more builds in one process, interleaved rounds, CPU µs per
 * call: what a change below the HTTP layer costs, apart from the rest of a request and from the
 * load on the machine between runs. Each build gets its own file, seeded with the same users by
 * its own bench/seed.js (so with its own migrations), and its own store (compose/users.ts
 * userStoreFor(), as `serve` wires it). Beside the store, the bare driver on the same file
 * (better-sqlite3, the build's select list) as each build's floor.
 *
 *   node dist/bench/store-ab.js <dist folder> [<dist folder> …]
 *
 * Settings: STORE_AB_USERS (100000), STORE_AB_ROUNDS (5), STORE_AB_OPS (20000 gets a round; a
 * twentieth as many pages and creates), STORE_AB_ONLY (comma-separated operations),
 * STORE_AB_MMAP (bytes of mmap_size set on the connection of the build at STORE_AB_MMAP_AT,
 * default every build). Reports and never asserts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type SQLite from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { SQLITE_LIMIT } from '../src/db/sqlite-steps.js';
import type * as SeedModuleNs from './seed.js';
import type * as DatabaseModuleNs from '../src/db/database.js';
import type * as UsersComposeNs from '../src/compose/users.js';
import type * as SqlRowNs from '../src/users/sql-row.js';
import type * as EventsNs from '../src/users/events.js';
import type { User } from '../src/users/model.js';
import type { UserStore } from '../src/users/service.js';

const env = process.env;
const USERS = Number(env.STORE_AB_USERS ?? 100_000);
const ROUNDS = Number(env.STORE_AB_ROUNDS ?? 5);
const OPS = Number(env.STORE_AB_OPS ?? 20_000);
const ONLY = env.STORE_AB_ONLY?.split(',').map((o) => o.trim());

const LEGACY_COLUMNS = 'id, email, name, attributes, version, created_at, updated_at';

interface Build {
  readonly label: string;
  readonly store: UserStore;
  readonly connection: SQLite.Database;
  readonly driverGet: SQLite.Statement;
  readonly driverPage: SQLite.Statement;
  readonly userCreated: typeof EventsNs.userCreated;
  created: number;
  close(): Promise<void>;
}

const load = async <T>(dist: string, path: string) => (await import(pathToFileURL(join(dist, path)).href)) as T;

async function openBuild(dist: string, file: string, users: SeedModuleNs.SeedUsers, mmap: boolean): Promise<Build> {
  await (await load<typeof SeedModuleNs>(dist, 'bench/seed.js')).seedSqlite(file, users);
  const { openDatabase } = await load<typeof DatabaseModuleNs>(dist, 'src/db/database.js');
  const { userStoreFor } = await load<typeof UsersComposeNs>(dist, 'src/compose/users.js');
  // Builds before sql-row.ts named the columns selected these (their sqlite-statements.ts).
  const USER_COLUMNS = (await load<Partial<typeof SqlRowNs>>(dist, 'src/users/sql-row.js')).USER_COLUMNS ?? LEGACY_COLUMNS;
  const { userCreated } = await load<typeof EventsNs>(dist, 'src/users/events.js');
  const database = openDatabase(file);
  if (database.driver.kind !== 'sqlite') throw new Error('store-ab: SQLite only');
  const connection = database.driver.connection;
  if (mmap) connection.pragma(`mmap_size = ${Number(env.STORE_AB_MMAP)}`);
  const size = (connection.pragma('page_count', { simple: true }) as number) * (connection.pragma('page_size', { simple: true }) as number);
  console.log(`${dist}: ${(size / 1e6).toFixed(1)} MB, reads ${USER_COLUMNS}${mmap ? `, mmap_size ${env.STORE_AB_MMAP}` : ''}`);
  return {
    label: dist,
    store: userStoreFor(database),
    connection,
    driverGet: connection.prepare(`select ${USER_COLUMNS} from users where id = ?`),
    driverPage: connection.prepare(`select ${USER_COLUMNS} from users where id > ? order by id ${SQLITE_LIMIT}`),
    userCreated,
    created: 0,
    close: () => database.close(),
  };
}

function newUser(n: number): User {
  const now = new Date();
  return {
    id: uuidv7(),
    email: `store.ab.${n}@example.com`,
    name: `Store Ab ${n}`,
    active: true,
    externalId: null,
    givenName: null,
    familyName: null,
    attributes: { department: 'Research', title: 'Software Engineer', n },
    profile: {},
    version: 1,
    createdAt: now,
    updatedAt: now,
  } as unknown as User;
}

async function main(): Promise<void> {
  const dists = process.argv.slice(2).map((d) => resolve(d));
  if (dists.length === 0) throw new Error('usage: node dist/bench/store-ab.js <dist folder> [<dist folder> …]');
  const work = await mkdtemp(join(os.tmpdir(), 'roster-store-ab-'));
  const builds: Build[] = [];
  try {
    const users = (await load<typeof SeedModuleNs>(dists[0]!, 'bench/seed.js')).seedUsers(USERS);
    const mmapAt = env.STORE_AB_MMAP_AT === undefined ? undefined : Number(env.STORE_AB_MMAP_AT);
    for (const [i, dist] of dists.entries()) {
      builds.push(await openBuild(dist, join(work, `store-${i}.db`), users, env.STORE_AB_MMAP !== undefined && (mmapAt ?? i) === i));
    }
    const randomId = () => users.ids[Math.floor(Math.random() * users.ids.length)]!;
    const operations: Record<string, { readonly share: number; run(b: Build): unknown }> = {
      'driver get': { share: 1, run: (b) => b.driverGet.get(randomId()) },
      'driver page(50)': { share: 20, run: (b) => b.driverPage.all('', 50) },
      'store get': { share: 1, run: (b) => b.store.get(randomId() as User['id']) },
      'store list(50)': { share: 20, run: (b) => b.store.list({ limit: 50 }) },
      // Both scans of `?q=zq`, as the service makes them: a prefix no seeded user has (two index seeks).
      'store search rare': {
        share: 1,
        run: (b) =>
          Promise.all(
            (['email', 'name'] as const).map((key) => b.store.search({ key, after: { key: 'zq', id: '' }, below: 'zr', limit: 51 })),
          ),
      },
      'store create': {
        share: 20,
        run: (b) => {
          const user = newUser(++b.created);
          return b.store.create(user, undefined, b.userCreated(uuidv7(), user, { actor: 'key:store-ab', requestId: 'store-ab' }));
        },
      },
    };
    const names = Object.keys(operations).filter((name) => ONLY === undefined || ONLY.includes(name));
    const time = async (b: Build, name: string, n: number) => {
      const operation = operations[name]!;
      const started = process.cpuUsage();
      for (let i = 0; i < n; i++) await operation.run(b);
      const used = process.cpuUsage(started);
      return (used.user + used.system) / n;
    };
    for (const b of builds) for (const name of names) await time(b, name, 1000);
    const samples = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? builds : [...builds].reverse();
      for (const name of names) {
        for (const b of order) {
          const key = `${name} ${builds.indexOf(b)}`;
          samples.set(key, [...(samples.get(key) ?? []), await time(b, name, Math.ceil(OPS / operations[name]!.share))]);
        }
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(`${ROUNDS} interleaved rounds, ${USERS} users, CPU µs per call: median (per round); build numbers as listed above`);
    for (const [key, values] of samples) {
      console.log(`  ${key.padEnd(20)} ${median(values).toFixed(1).padStart(7)}  (${values.map((v) => v.toFixed(1)).join(' ')})`);
    }
  } finally {
    for (const b of builds) await b.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
