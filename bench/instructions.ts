/**
 * Instructions per request, counted by valgrind's callgrind, where the timed benchmarks
 * (bench/http.ts, bench/ab.ts) swing by 10–60% between rounds on a shared machine. A count still
 * moves between processes: V8 lands each in one of several states (the nextTick literal below is
 * one), and work driven by the clock (a sampler once a second) is charged to fewer requests the
 * slower valgrind runs, so also when neighbours slow it. The same build counted 224 k and 254 k per
 * GET in two processes (bench/RESULTS.md, issue 14, twelfth pass): builds are compared within one
 * run, and a small difference is counted again. It counts what the server process executes in
 * user space (JavaScript, V8, Node, the SQLite driver), not the kernel's share of a request (its
 * socket reads and writes).
 *
 *   node dist/bench/instructions.js [baseline dist folder]
 *
 * Servers, on SQLite: baseline B (bench/baselines.ts, fastify + better-sqlite3 doing the same
 * database work), Roster of this build, and Roster of the baseline build when one is given (a
 * dist folder kept where node_modules resolves, as for bench/ab.ts). INSTR_DATABASE=postgres runs
 * them on PostgreSQL instead (B is then fastify + pg), each on its own database created beside
 * INSTR_POSTGRES_URL's (postgres://postgres@127.0.0.1:5432/test) and dropped at the end: the
 * count is then the Node.js process's share of a request, without the server's. Each runs under callgrind
 * with V8's --single-threaded (compiling and collecting on the main thread, so that no thread's
 * timing changes the count) and --predictable-gc-schedule (no GC driven by the clock: valgrind
 * runs a server ~50× slower, and the memory reducer then ran full GCs inside the counted
 * window), load shedding off (under valgrind every request takes milliseconds), and is sent
 * INSTR_WARMUP requests (10000: fewer leave V8 still optimising) then INSTR_REQUESTS (2000)
 * counted ones, one at a time on one keep-alive connection (with several in flight, how many a
 * turn of the event loop serves would vary, and the per-turn costs with it). Routes:
 * INSTR_ROUTES (get,list; post creates users). With INSTR_TOP=N the N functions with most
 * instructions of their own per request are listed too, JIT code named through V8's perf map
 * (--perf-basic-prof). With INSTR_INCLUSIVE=N, the N JavaScript functions with most instructions
 * of their own and their callees' (see inclusiveCostTable for how to read it). With
 * INSTR_CALLERS=name,… (say KeyedLoadIC_Megamorphic), who called each such function, and what
 * those calls cost, per request (callersTable). INSTR_AUTH_STUBBED=1
 * adds this build's Roster with authentication stubbed (every request admin, as in bench/http.ts),
 * for the target "with an API key ≥ 95% of the same with authentication stubbed".
 *
 * Counts are only comparable within one machine's valgrind, Node.js binary and flags, and a
 * count is not a time: a cache miss or a system call costs far more than its instructions.
 * Reports and never asserts. Needs valgrind (Debian's package; on every machine here).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { awaitReply, type ServerKind } from './ipc.js';
import {
  attributesFor,
  createPostgresDatabase,
  dropPostgresDatabase,
  seedUsers,
  type seedPostgres,
  type seedSqlite,
  type SeedUsers,
} from './seed.js';
import { callersTable, callsPerRequest, inclusiveCostTable, readDump, selfCostTable, totalInstructions } from './callgrind.js';

const env = process.env;
const WARMUP = Number(env.INSTR_WARMUP ?? 10_000);
const REQUESTS = Number(env.INSTR_REQUESTS ?? 2_000);
const USERS = Number(env.INSTR_USERS ?? 2_000);
const ROUTES = (env.INSTR_ROUTES ?? 'get,list').split(',').map((r) => r.trim());
const TOP = Number(env.INSTR_TOP ?? 0);
const INCLUSIVE = Number(env.INSTR_INCLUSIVE ?? 0);
const CALLERS = (env.INSTR_CALLERS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');
const CALLERS_TOP = 15;
/** JIT code is named only through V8's perf map, which costs the server a line per compiled function. */
const NAMES_JIT = TOP > 0 || INCLUSIVE > 0 || CALLERS.length > 0;
const STUBBED = env.INSTR_AUTH_STUBBED === '1';
const DATABASE = env.INSTR_DATABASE ?? 'sqlite';
const POSTGRES_URL = env.INSTR_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Starting Node.js and the app under valgrind takes about a minute on an idle core. */
const START_TIMEOUT_MS = 15 * 60_000;

interface Target {
  readonly label: string;
  readonly kind: ServerKind;
  readonly serversJs: string;
}

interface Started {
  readonly child: ChildProcess;
  readonly url: URL;
  readonly authorization: string | undefined;
}

function requireValgrind(): void {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind); this benchmark counts instructions with it');
  }
}

/** node's own binary, run by valgrind: fork() starts this script with node's arguments. */
async function valgrindWrapper(work: string): Promise<string> {
  const wrapper = join(work, 'node-under-callgrind.sh');
  const script = [
    '#!/bin/sh',
    `exec valgrind --tool=callgrind --callgrind-out-file="$INSTR_OUT" --dump-instr=no --collect-jumps=no \\`,
    `  ${JSON.stringify(process.execPath)} "$@" 2>>"$INSTR_OUT.log"`,
    '',
  ].join('\n');
  await writeFile(wrapper, script);
  await chmod(wrapper, 0o755);
  return wrapper;
}

async function start(target: Target, database: string, wrapper: string, out: string, work: string): Promise<Started> {
  const child = fork(target.serversJs, [target.kind, database], {
    execPath: wrapper,
    execArgv: ['--single-threaded', '--predictable-gc-schedule', ...(NAMES_JIT ? ['--perf-basic-prof'] : [])],
    // --perf-basic-prof leaves V8 logs in the working directory: the scratch folder's.
    cwd: work,
    env: { ...env, INSTR_OUT: out, ROSTER_SHED_EVENT_LOOP_DELAY_MS: '0' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  // A server that exits or fails at start ends the wait; its valgrind output says why.
  const ready = await awaitReply(child, 'ready', START_TIMEOUT_MS).catch((error: unknown) => {
    throw new Error(`${target.label} did not start; see ${out}.log`, { cause: error });
  });
  return { child, url: new URL(ready.url), authorization: ready.authorization };
}

/** One request of `route`, the n-th of the server's run: the same stream for every server. */
function requestOf(route: string, n: number, users: SeedUsers): { method: string; path: string; body?: string; status: number } {
  if (route === 'get') return { method: 'GET', path: `/v1/users/${users.ids[(n * 7919) % users.ids.length]}`, status: 200 };
  if (route === 'list') return { method: 'GET', path: '/v1/users?limit=50', status: 200 };
  if (route === 'post') {
    const body = JSON.stringify({ email: `Instr.${n}@Example.com`, name: `Instr Post ${n}`, attributes: attributesFor(n) });
    return { method: 'POST', path: '/v1/users', body, status: 201 };
  }
  throw new Error(`INSTR_ROUTES: get, list or post, not ${route}`);
}

/** `count` requests one after another on one keep-alive connection, numbered on from `first`. */
async function send(server: Started, route: string, users: SeedUsers, first: number, count: number, agent: http.Agent): Promise<void> {
  const auth = server.authorization === undefined ? {} : { authorization: server.authorization };
  for (let n = first; n < first + count; n++) {
    const { method, path, body, status } = requestOf(route, n, users);
    const headers = body === undefined ? auth : { ...auth, 'content-type': 'application/json' };
    await new Promise<void>((done, fail) => {
      const request = http.request({ agent, host: server.url.hostname, port: server.url.port, method, path, headers }, (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === status ? done() : fail(new Error(`${method} ${path}: status ${response.statusCode}`)),
        );
      });
      request.on('error', fail);
      request.end(body);
    });
  }
}

/**
 * Node 20's process.nextTick builds its tick object with computed symbol keys. In some processes
 * V8 keeps that literal on its fast path; in others (decided early, by when its fields first met
 * which kinds of number) every tick defines both keys through the runtime, for the life of the
 * process: tens of thousands of instructions more per request. Which state a server is in is
 * reported beside its count, or two builds may be compared across it.
 */
const SLOW_TICKS = 'Runtime_DefineKeyedOwnPropertyInLiteral';

interface Counted {
  readonly label: string;
  readonly route: string;
  readonly instructionsPerRequest: number;
  readonly slowTickDefinesPerRequest: number;
  readonly top: string | undefined;
  readonly inclusive: string | undefined;
  readonly callers: readonly { readonly callee: string; readonly table: string }[];
}

async function count(target: Target, database: string, users: SeedUsers, wrapper: string, work: string): Promise<Counted[]> {
  const out = join(work, `${target.label}.callgrind`);
  const server = await start(target, database, wrapper, out, work);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const counted: Counted[] = [];
  try {
    for (const [i, route] of ROUTES.entries()) {
      await send(server, route, users, 0, WARMUP, agent);
      execFileSync('callgrind_control', ['--zero', String(server.child.pid)], { stdio: 'ignore' });
      await send(server, route, users, WARMUP, REQUESTS, agent);
      execFileSync('callgrind_control', ['--dump', String(server.child.pid)], { stdio: 'ignore' });
      // callgrind numbers its dumps from 1: the i-th route's is the (i+1)-th.
      const text = await readFile(`${out}.${i + 1}`, 'utf8');
      const dump = readDump(text);
      const perfMap = NAMES_JIT ? await readFile(`/tmp/perf-${server.child.pid}.map`, 'utf8').catch(() => '') : '';
      counted.push({
        label: target.label,
        route,
        instructionsPerRequest: totalInstructions(text) / REQUESTS,
        slowTickDefinesPerRequest: callsPerRequest(dump, SLOW_TICKS, REQUESTS),
        top: TOP > 0 ? selfCostTable(dump, perfMap, REQUESTS, TOP) : undefined,
        inclusive: INCLUSIVE > 0 ? inclusiveCostTable(dump, perfMap, REQUESTS, INCLUSIVE) : undefined,
        callers: CALLERS.map((callee) => ({ callee, table: callersTable(dump, perfMap, REQUESTS, callee, CALLERS_TOP) })),
      });
    }
  } finally {
    agent.destroy();
    server.child.kill('SIGKILL');
    await rm(`/tmp/perf-${server.child.pid}.map`, { force: true });
  }
  return counted;
}

async function main(): Promise<void> {
  requireValgrind();
  const baseline = process.argv[2];
  const here = fileURLToPath(new URL('./servers.js', import.meta.url));
  const targets: Target[] = [
    DATABASE === 'postgres'
      ? { label: 'B (fastify + pg)', kind: 'fastify-postgres', serversJs: here }
      : { label: 'B (fastify + better-sqlite3)', kind: 'fastify-sqlite', serversJs: here },
    ...(baseline === undefined
      ? []
      : [{ label: 'Roster before', kind: 'roster' as const, serversJs: join(resolve(baseline), 'bench', 'servers.js') }]),
    { label: baseline === undefined ? 'Roster' : 'Roster after', kind: 'roster', serversJs: here },
    ...(STUBBED ? [{ label: 'Roster, auth stubbed', kind: 'roster-no-auth' as const, serversJs: here }] : []),
  ];
  const work = await mkdtemp(join(os.tmpdir(), 'roster-instructions-'));
  try {
    const users = seedUsers(USERS);
    const wrapper = await valgrindWrapper(work);
    // Each server on its own copy, seeded by its own build (an older build refuses a newer schema).
    const databases = await Promise.all(targets.map((target, i) => seeded(target, i, users, work)));
    // The counts do not depend on the machine's load, so the servers are counted side by side.
    const results = (await Promise.all(targets.map((target, i) => count(target, databases[i]!, users, wrapper, work)))).flat();
    const on = DATABASE === 'postgres' ? 'PostgreSQL (the Node.js process only)' : 'SQLite';
    console.log(`callgrind, ${REQUESTS} requests counted after ${WARMUP}, one at a time, ${on}, ${USERS} users, Node ${process.version}`);
    for (const route of ROUTES) {
      const rows = results.filter((r) => r.route === route);
      const b = rows.find((r) => r.label.startsWith('B'))!.instructionsPerRequest;
      for (const row of rows) {
        const kIr = (row.instructionsPerRequest / 1000).toFixed(1).padStart(7);
        const ticks =
          row.slowTickDefinesPerRequest >= 1
            ? `; nextTick literal through the runtime ${row.slowTickDefinesPerRequest.toFixed(1)}×/request`
            : '';
        console.log(
          `  ${route.padEnd(5)} ${row.label.padEnd(30)} ${kIr} k instructions/request  (B/this ${((100 * b) / row.instructionsPerRequest).toFixed(1)}%${ticks})`,
        );
      }
    }
    for (const row of results.filter((r) => r.top !== undefined)) console.log(`\n${row.label}, ${row.route}:\n${row.top}`);
    for (const row of results.filter((r) => r.inclusive !== undefined)) {
      console.log(`\n${row.label}, ${row.route}, JavaScript functions with their callees:\n${row.inclusive}`);
    }
    for (const row of results) {
      for (const { callee, table } of row.callers) console.log(`\n${row.label}, ${row.route}, callers of ${callee}:\n${table}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    if (DATABASE === 'postgres') await Promise.all(targets.map((_, i) => dropPostgresDatabase(POSTGRES_URL, postgresName(i))));
  }
}

/** The i-th server's database, seeded with `users` by the target's own build. */
async function seeded(target: Target, i: number, users: SeedUsers, work: string): Promise<string> {
  const own = (await import(pathToFileURL(join(dirname(target.serversJs), 'seed.js')).href)) as {
    seedSqlite: typeof seedSqlite;
    seedPostgres: typeof seedPostgres;
  };
  if (DATABASE === 'postgres') {
    const url = await createPostgresDatabase(POSTGRES_URL, postgresName(i));
    await own.seedPostgres(url, users);
    return url;
  }
  if (DATABASE !== 'sqlite') throw new Error(`INSTR_DATABASE: sqlite or postgres, not ${DATABASE}`);
  const file = join(work, `db-${i}.sqlite`);
  await own.seedSqlite(file, users);
  return file;
}

/** The benchmark's own names, this run's alone: two runs side by side must not drop each other's. */
function postgresName(i: number): string {
  return `roster_instructions_${process.pid}_${i}`;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
