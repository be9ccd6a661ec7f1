// SCIM over the real directory at scale (issue 18), each against a same-run REST baseline, in
// interleaved A/B rounds (the order flips every round), through the whole app (app.inject: auth,
// routing, validation, the services, the database; no sockets):
//   lookup  GET /scim/v2/Users?filter=userName eq "…"   vs  GET /v1/users?email=…   (same users)
//   members a 1,000-member SCIM PATCH (op add, path members) vs POST /v1/groups/{id}/members with
//           the same 1,000 ids, on a group of ROSTER_BENCH_GROUP members; each timed add is undone
//           (untimed) so both sides always add to the same group.
//   lists   an unfiltered SCIM page at startIndex 1 and at the last page (exact totalResults: the
//           id index walked in 10,000-id steps) vs REST's first keyset page, a few rounds; and a
//           provider's full sync: from a page in the middle, each next page (startIndex + count),
//           whose start this instance remembers (kit/page-positions.ts), so it seeks by id.
// Figures: per request wall p50/p99 and CPU µs: this process's (process.cpuUsage) plus, on
// PostgreSQL, the bench database's server backends' (utime + stime from /proc, 10 ms ticks, so
// summed over a round and divided by its requests).
//
// Writes to the database it is given: point it at a copy.
//   node dist/bench/scim.js --database /tmp/copy.db            (a migrated SQLite file)
//   node dist/bench/scim.js --database postgres://…/copy_db    (a migrated PostgreSQL database)
// ROSTER_BENCH_ROUNDS (default 10), ROSTER_BENCH_LOOKUPS per side per round (default 100),
// ROSTER_BENCH_GROUP (default 100000).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { Registry } from 'prom-client';
import { buildServices, httpDependencies } from '../src/compose/services.js';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/observability/logger.js';

const { values } = parseArgs({ options: { database: { type: 'string' } } });
const url = values.database;
if (url === undefined) throw new Error('--database <sqlite file | postgres url> is required');
const ROUNDS = Number(process.env.ROSTER_BENCH_ROUNDS ?? 10);
const LOOKUPS = Number(process.env.ROSTER_BENCH_LOOKUPS ?? 100);
const GROUP = Number(process.env.ROSTER_BENCH_GROUP ?? 100_000);
const BATCH = 1000;

const config = loadConfig({
  ROSTER_DATABASE_URL: url,
  ROSTER_MIGRATE_ON_START: 'false',
  ROSTER_WEBHOOK_WORKERS: '0',
  ROSTER_RATE_LIMIT_PER_MINUTE: '1000000',
  ROSTER_RATE_LIMIT_ANON_PER_MINUTE: '1000000',
  ROSTER_SHED_EVENT_LOOP_DELAY_MS: '0',
  ROSTER_REQUEST_TIMEOUT_MS: '600000',
});
const logger = createLogger('silent');
const services = await buildServices(config, logger, { registry: new Registry() });
const app: FastifyInstance = await buildApp({
  ...httpDependencies(config, services, logger, {
    readiness: { isDraining: () => false, isClosing: () => false, ping: () => services.database.ping(1000) },
  }),
  shedding: { eventLoopDelayMs: 0, heapUsedMb: 1_000_000, eventLoopUtilization: 0 },
});
const { plaintext: key } = await services.apiKeys.create({ name: 'bench scim', scopes: ['admin'] });
const auth = { authorization: `Bearer ${key}` };

const isPostgres = url.startsWith('postgres');
const admin = isPostgres ? new pg.Client({ connectionString: url }) : undefined;
await admin?.connect();
const dbName = isPostgres ? new URL(url).pathname.slice(1) : '';

/** CPU ms of the bench database's backends (0 on SQLite: it runs in this process). */
async function serverCpuMs(): Promise<number> {
  if (admin === undefined) return 0;
  const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [
    dbName,
  ]);
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // a backend that ended meanwhile
    }
  }
  return ticks * 10;
}

interface Side {
  readonly name: string;
  readonly walls: number[];
  cpuUs: number;
  requests: number;
}
const side = (name: string): Side => ({ name, walls: [], cpuUs: 0, requests: 0 });

/** Runs `n` requests of one side, timing each; the round's CPU is summed over them. */
async function round(s: Side, n: number, request: (i: number) => Promise<void>): Promise<void> {
  const server = await serverCpuMs();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await request(i);
    s.walls.push(performance.now() - start);
  }
  const used = process.cpuUsage(cpu);
  s.cpuUs += used.user + used.system + ((await serverCpuMs()) - server) * 1000;
  s.requests += n;
}

function expect(status: number, wanted: number, what: string, body: string): void {
  if (status !== wanted) throw new Error(`${what}: ${status} ${body.slice(0, 300)}`);
}

async function inject(method: 'GET' | 'POST' | 'PATCH', path: string, payload?: unknown, type = 'application/json') {
  return app.inject({
    method,
    url: path,
    headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': type }) },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

// ---- data: sample users, one big group ---------------------------------------------------------

const total = (await services.users.page(0, 0)).total;
console.log(`database ${isPostgres ? 'postgres' : 'sqlite'}: ${total} users`);
// The first users in id order (untimed setup): lookups, the two batches, the group's members.
const want = LOOKUPS + 2 * BATCH + GROUP;
const sample: { id: string; email: string }[] = [];
for (let cursor: string | undefined; sample.length < want;) {
  const page = await services.users.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
  sample.push(...page.users.map((u) => ({ id: u.id, email: u.email })));
  if (page.nextCursor === null) break;
  cursor = page.nextCursor;
}
if (sample.length < want) throw new Error(`only ${sample.length} users; lower ROSTER_BENCH_GROUP`);
const batches = [sample.slice(0, BATCH), sample.slice(BATCH, 2 * BATCH)].map((b) => b.map((u) => u.id));
const members = sample.slice(2 * BATCH, 2 * BATCH + GROUP).map((u) => u.id);
// Lookups spread over the sample's members (the email index does not care which).
const lookups = Array.from({ length: LOOKUPS }, (_, i) => sample[2 * BATCH + Math.floor((i * (sample.length - 2 * BATCH)) / LOOKUPS)]!);

const setupStart = performance.now();
const group = (await services.groups.create({ display_name: `bench scim ${Date.now()}`, member_ids: members }, {}, null)).group;
console.log(`group of ${group.memberCount} members created in ${Math.round(performance.now() - setupStart)} ms`);

// ---- rounds ---------------------------------------------------------------------------------------

const scimLookup = side('SCIM userName eq');
const restLookup = side('REST ?email=');
const scimPatch = side('SCIM PATCH 1,000 members');
const restBatch = side('REST batch add 1,000');
const scimFirstPage = side('SCIM list startIndex=1');
const scimLastPage = side('SCIM list startIndex=N-99');
const scimNextPage = side('SCIM sync: the next page');
const restFirstPage = side('REST list first page');
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const lookupBy = {
  scim: async (i: number) => {
    const email = lookups[i % lookups.length]!.email;
    const r = await inject('GET', `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${email}"`)}`);
    expect(r.statusCode, 200, 'scim lookup', r.body);
    if (!r.body.includes('"totalResults":1')) throw new Error(`scim lookup found nothing: ${r.body.slice(0, 200)}`);
  },
  rest: async (i: number) => {
    const email = lookups[i % lookups.length]!.email;
    const r = await inject('GET', `/v1/users?email=${encodeURIComponent(email)}`);
    expect(r.statusCode, 200, 'rest lookup', r.body);
    if (r.body.length < 50) throw new Error(`rest lookup found nothing: ${r.body}`);
  },
};

async function removeUntimed(ids: readonly string[]): Promise<void> {
  await services.groups.removeMembers(group.id, ids, undefined, {}, null);
}
const addBy = {
  scim: async (ids: readonly string[]) => {
    const r = await inject(
      'PATCH',
      `/scim/v2/Groups/${group.id}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }] },
      'application/scim+json',
    );
    expect(r.statusCode, 200, 'scim patch', r.body);
  },
  rest: async (ids: readonly string[]) => {
    const r = await inject('POST', `/v1/groups/${group.id}/members`, { user_ids: ids });
    expect(r.statusCode, 200, 'rest batch', r.body);
  },
};

// One warm-up of each, untimed (prepared statements, JIT).
await lookupBy.scim(0);
await lookupBy.rest(0);
await addBy.scim(batches[0]!);
await removeUntimed(batches[0]!);
await addBy.rest(batches[0]!);
await removeUntimed(batches[0]!);

for (let r = 0; r < ROUNDS; r++) {
  const scimFirst = r % 2 === 0;
  const ids = batches[r % 2]!;
  for (const which of scimFirst ? (['scim', 'rest'] as const) : (['rest', 'scim'] as const)) {
    await round(which === 'scim' ? scimLookup : restLookup, LOOKUPS, lookupBy[which]);
  }
  for (const which of scimFirst ? (['scim', 'rest'] as const) : (['rest', 'scim'] as const)) {
    await round(which === 'scim' ? scimPatch : restBatch, 1, () => addBy[which](ids));
    await removeUntimed(ids);
  }
}

// Unfiltered lists: SCIM counts every user (and walks to a deep startIndex); REST reads one keyset page.
const pages = {
  first: async () => expect((await inject('GET', '/scim/v2/Users?startIndex=1&count=100')).statusCode, 200, 'scim first page', ''),
  last: async () =>
    expect((await inject('GET', `/scim/v2/Users?startIndex=${Math.max(1, total - 99)}&count=100`)).statusCode, 200, 'scim last page', ''),
  rest: async () => expect((await inject('GET', '/v1/users?limit=100')).statusCode, 200, 'rest page', ''),
};
const pageAt = async (startIndex: number) =>
  expect((await inject('GET', `/scim/v2/Users?startIndex=${startIndex}&count=100`)).statusCode, 200, 'scim page', '');
for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
  await round(restFirstPage, 1, pages.rest);
  await round(scimFirstPage, 1, pages.first);
  await round(scimLastPage, 1, pages.last);
  // A sync from the middle: its first page walks (untimed), the next ten start where one ended.
  const from = Math.floor(total / 2 / 100) * 100 + 1 + r * 2_000;
  await pageAt(from);
  for (let k = 1; k <= 10; k++) await round(scimNextPage, 1, () => pageAt(from + k * 100));
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
console.log(`rounds ${ROUNDS} (order flipped each round), ${LOOKUPS} lookups per side per round; group ${GROUP} members`);
console.log('side                         requests   CPU µs/req   wall p50 ms   wall p99 ms');
for (const s of [scimLookup, restLookup, scimPatch, restBatch, restFirstPage, scimFirstPage, scimLastPage, scimNextPage]) {
  const walls = [...s.walls].sort((a, b) => a - b);
  console.log(
    `${s.name.padEnd(28)} ${String(s.requests).padStart(8)} ${String(Math.round(s.cpuUs / s.requests)).padStart(12)} ${quantile(walls, 0.5)
      .toFixed(2)
      .padStart(13)} ${quantile(walls, 0.99).toFixed(2).padStart(13)}`,
  );
}

await services.groups.delete(group.id, undefined, {});
await admin?.end();
await app.close();
await services.close();
