/**
 * `npm run bench:scale` (issue 15, item 6): N deterministic users (bench/scale-data.ts; 1M by
 * default, `--users 10000000`) loaded through Roster's batch writers (bench/scale-load.ts) into
 * a SQLite file and a PostgreSQL database of their own (`roster_scale_<n>`, reused when already
 * loaded at that size and seed; `--reload` loads anew), then each read route measured at a fixed
 * concurrency (16 requests in flight) on Roster beside a minimal fastify handler running the same
 * SQL on the same database (bench/scale-baseline.ts), in interleaved rounds: p50, p99, req/s and
 * server CPU µs per request. Prints the plans of the routes' statements and, with `--write`,
 * rewrites the `bench:scale` section of bench/RESULTS.md.
 *
 * Flags: --users N, --seed S, --databases sqlite,postgres, --rounds R, --duration S (per run),
 * --warmup S, --connections C, --dir DIR (SQLite files; default $TMPDIR/roster-scale), --reload,
 * --write. BENCH_POSTGRES_URL: the server to create the database on
 * (postgres://postgres@127.0.0.1:5432/postgres).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RequestSpec } from 'autocannon';
import { writeResultsSection } from './results-file.js';
import { measure, startServerChild, stopServerChild, type Run, type Runtime, type ServerChild } from './runner.js';
import { scaleUser, userId } from './scale-data.js';
import { loadPostgres, loadSqlite, type Loaded } from './scale-load.js';
import { explainPostgres, explainSqlite, type RouteQuery } from './scale-plans.js';
import { withDatabase } from './seed.js';

type DatabaseName = 'sqlite' | 'postgres';

const { values: flags } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '15' },
    databases: { type: 'string', default: 'sqlite,postgres' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    dir: { type: 'string', default: join(tmpdir(), 'roster-scale') },
    reload: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
  strict: true,
});
const USERS = Number(flags.users);
const SEED = Number(flags.seed);
const ROUNDS = Number(flags.rounds);
const settings = { durationS: Number(flags.duration), warmupS: Number(flags.warmup), connections: Number(flags.connections) };
const DATABASES = flags.databases.split(',') as DatabaseName[];
/** Page 200 of 50 starts after user 9,949 (ids are in index order). */
const DEEP_PAGE = 200;
const PAGE = 50;
const COMMON_PREFIX = 'jo';
const RARE_PREFIX = 'zq';
if (!Number.isSafeInteger(USERS) || USERS < DEEP_PAGE * PAGE) throw new Error(`--users must be at least ${DEEP_PAGE * PAGE}`);
if (DATABASES.some((d) => d !== 'sqlite' && d !== 'postgres')) throw new Error('--databases takes sqlite and/or postgres');

const here = fileURLToPath(new URL('.', import.meta.url));
const runtime: Runtime = { label: 'scale', execPath: undefined, serversJs: join(here, 'servers.js'), appRoot: join(here, '..', '..') };
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Route {
  readonly key: string;
  readonly title: string;
  /** What Roster is asked; `cursor` is filled in for the deep page. */
  readonly roster: () => string;
  readonly baseline: () => string;
  readonly query: RouteQuery;
}

const randomIndex = () => Math.floor(Math.random() * USERS);
const deepAfter = userId(SEED, (DEEP_PAGE - 1) * PAGE - 1);

function routes(deepCursor: string): Route[] {
  const list = (query: string) => () => `/v1/users?limit=${PAGE}${query}`;
  return [
    {
      key: 'id',
      title: 'GET /v1/users/{id}',
      roster: () => `/v1/users/${userId(SEED, randomIndex())}`,
      baseline: () => `/v1/users/${userId(SEED, randomIndex())}`,
      query: { kind: 'get', id: userId(SEED, USERS >> 1) },
    },
    {
      key: 'email',
      title: 'GET /v1/users?email=',
      roster: () => `/v1/users?email=${encodeURIComponent(scaleUser(SEED, randomIndex()).email)}`,
      baseline: () => `/v1/users?email=${encodeURIComponent(scaleUser(SEED, randomIndex()).email)}`,
      query: { kind: 'page', email: scaleUser(SEED, USERS >> 1).email },
    },
    { key: 'first', title: 'first page (limit 50)', roster: list(''), baseline: list(''), query: { kind: 'page' } },
    {
      key: 'deep',
      title: `page ${DEEP_PAGE} (cursor walked)`,
      roster: list(`&cursor=${encodeURIComponent(deepCursor)}`),
      baseline: list(`&after=${deepAfter}`),
      query: { kind: 'page', after: deepAfter },
    },
    {
      key: 'common',
      title: `?q=${COMMON_PREFIX} (common prefix)`,
      roster: list(`&q=${COMMON_PREFIX}`),
      baseline: list(`&q=${COMMON_PREFIX}`),
      query: { kind: 'search', prefix: COMMON_PREFIX },
    },
    {
      key: 'rare',
      title: `?q=${RARE_PREFIX} (rare prefix)`,
      roster: list(`&q=${RARE_PREFIX}`),
      baseline: list(`&q=${RARE_PREFIX}`),
      query: { kind: 'search', prefix: RARE_PREFIX },
    },
  ];
}

/** An admin API key made by Roster's own CLI, so Roster's figures include authentication. */
function apiKey(target: string): string {
  const cli = join(here, '..', 'src', 'cli.js');
  const out = execFileSync(process.execPath, [cli, 'keys', 'create', '--name', 'bench-scale', '--scope', 'admin'], {
    env: { ...process.env, ROSTER_DATABASE_URL: target, LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
  const key = /^(rk_\S+)$/m.exec(out)?.[1];
  if (key === undefined) throw new Error(`roster keys create printed no key: ${out}`);
  return key;
}

async function getJson(server: ServerChild, path: string, headers: Record<string, string>): Promise<{ data?: { id: string }[] }> {
  const response = await fetch(`${server.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
  if (response.status !== 200) throw new Error(`${server.label} ${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as { data?: { id: string }[] };
}

/** The cursor of page DEEP_PAGE, walked from the first page through Roster's own next_cursor. */
async function walkCursor(roster: ServerChild, headers: Record<string, string>): Promise<string> {
  let cursor = '';
  for (let page = 1; page < DEEP_PAGE; page++) {
    const response = await fetch(`${roster.url}/v1/users?limit=${PAGE}${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, {
      headers,
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as { next_cursor: string | null };
    if (body.next_cursor === null) throw new Error(`the walk ended at page ${page}`);
    cursor = body.next_cursor;
  }
  return cursor;
}

/** Each route answers the same users on both servers (the same SQL must give the same rows). */
async function sameAnswers(roster: ServerChild, baseline: ServerChild, all: Route[], headers: Record<string, string>): Promise<void> {
  for (const route of all) {
    if (route.key === 'id' || route.key === 'email') continue;
    const a = (await getJson(roster, route.roster(), headers)).data?.map((u) => u.id) ?? [];
    const b = (await getJson(baseline, route.baseline(), headers)).data?.map((u) => u.id) ?? [];
    const expectSome = route.key !== 'rare';
    if ((expectSome && a.length === 0) || a[0] !== b[0] || (route.key !== 'common' && a.join() !== b.join()))
      throw new Error(
        `${route.title}: Roster and the minimal handler disagree (${a.length} vs ${b.length} rows, first ${a[0]} vs ${b[0]})`,
      );
  }
  const user = scaleUser(SEED, USERS - 1);
  const byEmail = await getJson(roster, `/v1/users?email=${encodeURIComponent(user.email.toUpperCase())}`, headers);
  if (byEmail.data?.[0]?.id !== user.id) throw new Error(`?email= did not find user ${USERS - 1} on ${roster.label}`);
}

interface Measured {
  readonly route: Route;
  readonly roster: Run[];
  readonly baseline: Run[];
  readonly failures: string[];
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
};

async function measureDatabase(database: DatabaseName, target: string): Promise<{ rows: Measured[]; plans: string }> {
  const key = apiKey(target);
  const headers = { authorization: `Bearer ${key}` };
  const started: ServerChild[] = [];
  try {
    const roster = await startServerChild(runtime, 'roster', `${database} Roster`, target);
    started.push(roster);
    const baseline = await startServerChild(
      runtime,
      database === 'sqlite' ? 'scale-sqlite' : 'scale-postgres',
      `${database} minimal`,
      target,
    );
    started.push(baseline);
    const all = routes(await walkCursor(roster, headers));
    await sameAnswers(roster, baseline, all, headers);
    const spec = (path: () => string): RequestSpec => ({
      method: 'GET',
      path: path(),
      headers,
      setupRequest: (request) => ({ ...request, path: path() }),
    });
    const rows: Measured[] = all.map((route) => ({ route, roster: [], baseline: [], failures: [] }));
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < rows.length; k++) {
        const row = rows[(k + round) % rows.length]!;
        const sides = [
          ['roster', roster, row.route.roster],
          ['baseline', baseline, row.route.baseline],
        ] as const;
        for (const [side, server, path] of round % 2 === 0 ? sides : [...sides].reverse()) {
          const run = await measure(server, spec(path), settings);
          row[side].push(run);
          if (run.failures !== undefined) row.failures.push(`${side} round ${round + 1}: ${run.failures}`);
          console.log(
            `${database} round ${round + 1}/${ROUNDS} ${row.route.title.padEnd(32)} ${side.padEnd(8)} ${run.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${run.p50Ms.toFixed(2)}  p99 ${run.p99Ms.toFixed(2)} ms  ${run.cpuUsPerRequest.toFixed(0)} µs/req  (load ${load()})${run.failures ? `  ⚠ ${run.failures}` : ''}`,
          );
        }
      }
    }
    const queries = all.map((r) => ({ title: r.title, query: r.query }));
    const plans = database === 'sqlite' ? explainSqlite(target, queries) : await explainPostgres(target, queries);
    return { rows, plans };
  } finally {
    for (const server of started) await stopServerChild(server);
  }
}

function table(rows: Measured[]): string[] {
  const lines = [
    '| route | side | p50 ms | p99 ms | req/s | CPU µs/req | p99 Roster / minimal |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const p99 = (runs: Run[]) => median(runs.map((r) => r.p99Ms));
    for (const side of ['roster', 'baseline'] as const) {
      const runs = row[side];
      lines.push(
        `| ${row.route.title} | ${side === 'roster' ? 'Roster' : 'minimal handler'} | ${median(runs.map((r) => r.p50Ms)).toFixed(2)} | ${p99(runs).toFixed(2)} | ${median(runs.map((r) => r.reqPerSec)).toFixed(0)} | ${median(runs.map((r) => r.cpuUsPerRequest)).toFixed(0)} | ${side === 'roster' ? `${(p99(row.roster) / p99(row.baseline)).toFixed(2)}×` : ''} |`,
      );
    }
  }
  const failures = rows.flatMap((r) => r.failures.map((f) => `${r.route.title}, ${f}`));
  if (failures.length > 0)
    lines.push('', 'Runs with errors or non-2xx answers (their figures are suspect):', '', ...failures.map((f) => `- ${f}`));
  return lines;
}

async function main(): Promise<void> {
  const sections: string[] = [];
  const loads = new Map<DatabaseName, { target: string; loaded: Loaded }>();
  const loadAtStart = load();
  for (const database of DATABASES) {
    if (database === 'sqlite') {
      mkdirSync(flags.dir, { recursive: true });
      const file = join(flags.dir, `roster_scale_${USERS}.db`);
      loads.set(database, { target: file, loaded: await loadSqlite(file, SEED, USERS, flags.reload) });
    } else {
      const admin = process.env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
      const name = `roster_scale_${USERS}`;
      loads.set(database, { target: withDatabase(admin, name), loaded: await loadPostgres(admin, name, SEED, USERS, flags.reload) });
    }
    const { loaded } = loads.get(database)!;
    console.log(`${database}: ${loaded.seconds === undefined ? 'reused the loaded database' : `loaded in ${loaded.seconds.toFixed(1)} s`}`);
  }
  for (const database of DATABASES) {
    const { target, loaded } = loads.get(database)!;
    const before = load();
    const { rows, plans } = await measureDatabase(database, target);
    console.log(plans);
    sections.push(
      `### ${database === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
      '',
      `Load: ${loaded.seconds === undefined ? 'reused (loaded by an earlier run)' : `${loaded.seconds.toFixed(1)} s through the batch writers`}. ` +
        `Load average before ${before}, after ${load()}.`,
      '',
      ...table(rows),
      '',
      '<details><summary>Plans</summary>',
      '',
      plans,
      '',
      '</details>',
      '',
    );
  }
  const markdown = [
    `## 10 million users (\`npm run bench:scale\`), ${USERS.toLocaleString('en')} users`,
    '',
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, 2 shared cores; load average at start ${loadAtStart}. ` +
      `Users from bench/scale-data.ts (seed ${SEED}), loaded through Roster's batch writers (create mode, no per-user events). ` +
      `${settings.connections} requests in flight, ${ROUNDS} interleaved rounds of ${settings.durationS} s (after ${settings.warmupS} s warm-up) per route and side; ` +
      'figures are medians over the rounds. Roster authenticates every request (an admin API key); the minimal handler is fastify and the driver running ' +
      'the same SQL text (bench/scale-baseline.ts). CPU µs/req is the server process, all threads.',
    '',
    ...sections,
  ].join('\n');
  console.log(markdown);
  if (flags.write) await writeResultsSection('bench/RESULTS.md', 'scale', markdown);
}

await main();
