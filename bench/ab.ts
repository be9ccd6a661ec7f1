/**
 * Two builds of Roster's real server, A/B in one run: the same SQLite data, the same request
 * streams, rounds interleaved (order alternated each round), server CPU µs per 2xx response
 * (all its threads, over the measured seconds) and req/s, medians and per-round paired ratios.
 * For judging one change to the hot path on a loaded machine, where the full `npm run bench`
 * takes half an hour and moves with the load between its scenarios.
 *
 *   node dist/bench/ab.js <baseline dist folder>
 *
 * The baseline is another build's dist folder kept where node_modules resolves (e.g. a copy of
 * dist in .tmp/base/dist with package.json in .tmp/base). Settings: AB_ROUNDS (5), AB_DURATION
 * (s, 3), AB_WARMUP (s, 1), AB_USERS (20000), AB_ROUTES (get,list,post; also scim and scim-post, a SCIM GET and create of a user), BENCH_CONNECTIONS (50),
 * AB_DATABASE (sqlite: a file per build, seeded with the same users by that build's own bench/seed.js; or postgres: a scratch database per build, copied from one seeded template
 * on BENCH_POSTGRES_URL's server, postgres://postgres@127.0.0.1:5432/postgres, dropped at the end).
 * With AB_STUB=1 the baseline argument is ignored: both sides are this build, "before" with
 * API keys and "stubbed" with authentication stubbed (bench/servers.ts roster-no-auth), each
 * serving the same routes, so the key's cost is read apart from the route mix a server served.
 * With AB_GC=1 the servers run under `--trace-gc-nvp` (V8's line per collection, into the log file)
 * and each round also reports their garbage collection per 2xx response: pause µs, bytes promoted
 * to the old generation, and the full collections. Those are counts of the servers' own work, and
 * move far less between rounds than time on a shared machine (bench/RESULTS.md, issue 14,
 * seventeenth pass). Reports and never asserts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RequestSpec } from 'autocannon';
import { ENTERPRISE_USER_SCHEMA_ID, USER_SCHEMA_ID } from '../src/scim/schema/definitions.js';
import { killChildren, measure, startServerChild, stopServerChild, type Run, type ServerChild } from './runner.js';
import {
  attributesFor,
  createPostgresDatabase,
  dropPostgresDatabase,
  seedPostgres,
  seedUsers,
  type seedSqlite,
  type SeedUsers,
} from './seed.js';

const env = process.env;
const ROUNDS = Number(env.AB_ROUNDS ?? 5);
const LOAD = {
  durationS: Number(env.AB_DURATION ?? 3),
  warmupS: Number(env.AB_WARMUP ?? 1),
  connections: Number(env.BENCH_CONNECTIONS ?? 50),
};
const USERS = Number(env.AB_USERS ?? 20_000);
const ROUTES = (env.AB_ROUTES ?? 'get,list,post').split(',').map((r) => r.trim());
const DATABASE = env.AB_DATABASE ?? 'sqlite';
const POSTGRES_ADMIN_URL = env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const GC = env.AB_GC === '1';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function specs(ids: readonly string[], authorization: string | undefined): Record<string, RequestSpec> {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;
  const tag = Date.now().toString(36);
  let posted = 0;
  return {
    get: { method: 'GET', path: `/v1/users/${ids[0]}`, headers, setupRequest: (r) => ({ ...r, path: `/v1/users/${randomId()}` }) },
    list: { method: 'GET', path: '/v1/users?limit=50', headers },
    // The same user as a SCIM resource, as an identity provider reads it before a change.
    scim: {
      method: 'GET',
      path: `/scim/v2/Users/${ids[0]}`,
      headers,
      setupRequest: (r) => ({ ...r, path: `/scim/v2/Users/${randomId()}` }),
    },
    post: {
      method: 'POST',
      path: '/v1/users',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
      setupRequest: (r) => {
        const n = ++posted;
        return { ...r, body: JSON.stringify({ email: `Ab.${tag}.${n}@Example.com`, name: `Ab Post ${n}`, attributes: attributesFor(n) }) };
      },
    },
    // A user created by an identity provider's sync: SCIM's create, with the names and work details Okta and Entra send.
    'scim-post': {
      method: 'POST',
      path: '/scim/v2/Users',
      headers: { 'content-type': 'application/scim+json', ...headers },
      body: '{}',
      setupRequest: (r) => {
        const n = ++posted;
        const user = {
          schemas: [USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID],
          userName: `Scim.${tag}.${n}@Example.com`,
          name: { givenName: 'Ab', familyName: `Scim ${n}` },
          displayName: `Ab Scim ${n}`,
          active: true,
          externalId: `ab-${tag}-${n}`,
          emails: [{ value: `Scim.${tag}.${n}@Example.com`, type: 'work', primary: true }],
          title: 'Engineer',
          [ENTERPRISE_USER_SCHEMA_ID]: { department: 'Directory', employeeNumber: String(n) },
        };
        return { ...r, body: JSON.stringify(user) };
      },
    },
  };
}

async function main(): Promise<void> {
  const baseline = process.argv[2];
  const stub = env.AB_STUB === '1';
  if (baseline === undefined && !stub) throw new Error('usage: node dist/bench/ab.js <baseline dist folder>');
  const here = {
    serversJs: fileURLToPath(new URL('./servers.js', import.meta.url)),
    appRoot: resolve(fileURLToPath(new URL('../..', import.meta.url))),
  };
  const builds = [
    stub || baseline === undefined
      ? { label: 'before', ...here }
      : { label: 'before', serversJs: join(resolve(baseline), 'bench', 'servers.js'), appRoot: resolve(baseline, '..') },
    { label: stub ? 'stubbed' : 'after', ...here },
  ];
  if (DATABASE !== 'sqlite' && DATABASE !== 'postgres') throw new Error(`AB_DATABASE: sqlite or postgres, not ${DATABASE}`);
  const work = await mkdtemp(join(os.tmpdir(), 'roster-ab-'));
  const databases = scratchDatabases(
    work,
    builds.map((build) => join(dirname(build.serversJs), 'seed.js')),
  );
  const servers: ServerChild[] = [];
  try {
    const users = seedUsers(USERS);
    await databases.seed(users);
    for (const [i, build] of builds.entries()) {
      const target = await databases.copy(i);
      const runtime = { execPath: undefined, ...build, ...(GC ? { nodeFlags: ['--trace-gc-nvp'] } : {}) };
      const kind = stub && i === 1 ? 'roster-no-auth' : 'roster';
      servers.push(await startServerChild(runtime, kind, build.label, target, join(work, `${build.label}.log`)));
    }
    const runs = new Map<string, Run[]>();
    const collections = new Map<string, Collections[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const route of ROUTES) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const server of order) {
          // A stubbed server makes no key and ignores the header: it gets the other's.
          const spec = specs(users.ids, stub ? servers[0]!.authorization : server.authorization)[route];
          if (spec === undefined) throw new Error(`AB_ROUTES: unknown route ${route}`);
          const run = await measure(server, spec, LOAD);
          if (run.failures !== undefined) console.error(`${server.label} ${route}: ${run.failures}`);
          const key = `${route} ${server.label}`;
          runs.set(key, [...(runs.get(key) ?? []), run]);
          if (GC) collections.set(key, [...(collections.get(key) ?? []), await collectionsIn(server.stdoutFile!, run.ok)]);
        }
      }
    }
    console.log(
      `${ROUNDS} interleaved rounds × ${LOAD.durationS} s, ${LOAD.connections} connections, ${USERS} users (${DATABASE === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`,
    );
    for (const route of ROUTES) {
      const [a, b] = builds.map((build) => runs.get(`${route} ${build.label}`)!);
      const cpu = (rs: Run[]) => median(rs.map((r) => r.cpuUsPerRequest)).toFixed(1);
      const rps = (rs: Run[]) => median(rs.map((r) => r.reqPerSec)).toFixed(0);
      const p99 = (rs: Run[]) => median(rs.map((r) => r.p99Ms)).toFixed(2);
      const paired = a!.map((r, i) => `${((100 * b![i]!.reqPerSec) / r.reqPerSec).toFixed(0)}%`).join(' ');
      const pairedCpu = a!.map((r, i) => `${((100 * b![i]!.cpuUsPerRequest) / r.cpuUsPerRequest).toFixed(0)}%`).join(' ');
      console.log(
        `  ${route.padEnd(5)} CPU µs/req ${cpu(a!)} → ${cpu(b!)} (after/before per round ${pairedCpu}); req/s ${rps(a!)} → ${rps(b!)} (${paired}); p99 ms ${p99(a!)} → ${p99(b!)}`,
      );
      if (GC) {
        const [ga, gb] = builds.map((build) => collections.get(`${route} ${build.label}`)!);
        const pause = (cs: Collections[]) => median(cs.map((c) => c.pauseUsPerRequest)).toFixed(2);
        const promoted = (cs: Collections[]) => median(cs.map((c) => c.promotedBytesPerRequest)).toFixed(0);
        const full = (cs: Collections[]) => cs.map((c) => c.full).join(',');
        console.log(
          `        GC pause µs/req ${pause(ga!)} → ${pause(gb!)}; promoted B/req ${promoted(ga!)} → ${promoted(gb!)}; full collections per round ${full(ga!)} → ${full(gb!)}`,
        );
      }
    }
  } finally {
    for (const server of servers) await stopServerChild(server).catch(() => undefined);
    killChildren();
    await databases.drop();
    await rm(work, { recursive: true, force: true });
  }
}

interface Collections {
  readonly pauseUsPerRequest: number;
  readonly promotedBytesPerRequest: number;
  /** Full (mark-compact) collections in the round. */
  readonly full: number;
}

/**
 * The collections V8 traced (`--trace-gc-nvp`: `name=value` fields, `gc=s` for a young one) in a
 * server's log, which measure() empties before the counted seconds: the round's, per 2xx response.
 */
async function collectionsIn(logFile: string, responses: number): Promise<Collections> {
  let pauseMs = 0;
  let promoted = 0;
  let full = 0;
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.includes(' gc=')) continue;
    const fields = new Map(line.split(' ').map((field) => field.split('=') as [string, string]));
    pauseMs += Number(fields.get('pause') ?? 0);
    promoted += Number(fields.get('promoted') ?? 0);
    if (fields.get('gc') !== 's') full++;
  }
  const per = Math.max(1, responses);
  return { pauseUsPerRequest: (1000 * pauseMs) / per, promotedBytesPerRequest: promoted / per, full };
}

/**
 * A seeded database per build. SQLite: a file in `work` per build, seeded with the same users
 * by that build's own bench/seed.js, so each has that build's migrations (an older build's
 * migrator refuses a file migrated by a newer one). PostgreSQL: one seeded template, copied.
 */
function scratchDatabases(work: string, seedModules: readonly string[]) {
  if (DATABASE === 'sqlite') {
    let seeded: SeedUsers | undefined;
    return {
      seed: (users: SeedUsers) => {
        seeded = users;
        return Promise.resolve();
      },
      copy: async (i: number) => {
        const file = join(work, `roster-${i}.db`);
        const own = (await import(pathToFileURL(seedModules[i]!).href)) as { seedSqlite: typeof seedSqlite };
        await own.seedSqlite(file, seeded!);
        return file;
      },
      drop: async () => undefined,
    };
  }
  const copies = seedModules.length;
  // The benchmark's own names (never input); the pid keeps concurrent runs apart.
  const prefix = `roster_ab_${process.pid}`;
  const names = [`${prefix}_seed`, ...Array.from({ length: copies }, (_, i) => `${prefix}_${i}`)];
  return {
    seed: async (users: SeedUsers) => seedPostgres(await createPostgresDatabase(POSTGRES_ADMIN_URL, names[0]!), users),
    copy: (i: number) => createPostgresDatabase(POSTGRES_ADMIN_URL, names[i + 1]!, names[0]),
    drop: async () => {
      for (const name of names) {
        await dropPostgresDatabase(POSTGRES_ADMIN_URL, name).catch((error: unknown) => console.error(`drop ${name}: ${String(error)}`));
      }
    },
  };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    killChildren();
    process.exit(1);
  },
);
