/**
 * The HTTP benchmark (`npm run bench`): Roster against two same-run baselines on one SQLite file.
 *
 *   A  bare node:http returning a fixed ~300-byte JSON body
 *   B  minimal fastify handler: one raw better-sqlite3 primary-key lookup, row returned as JSON
 *   Roster, started through src/main.ts with request logging at info to a real file:
 *      GET /v1/users/{id} (random seeded ids), GET /v1/users?limit=50, POST /v1/users
 *   Roster with authentication stubbed (bench/servers.ts): GET /v1/users/{id}, the figure the
 *      same GET with an API key is compared with to give the cost of key verification
 *
 * Each server runs in its own child process (bench/servers.ts); autocannon drives them from this
 * process over loopback. Scenarios are interleaved over several rounds and medians reported, so
 * drift on a shared machine hits every scenario alike. Prints a table and writes bench/RESULTS.md.
 * It reports and never asserts. With Roster's GET by id below 85% of baseline B (or
 * BENCH_PROFILE=always) it CPU-profiles Roster and B under the same load and adds the top frames.
 *
 * Settings (environment): BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 3), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (50), BENCH_USERS (100000), BENCH_PROFILE (auto|always|never),
 * BENCH_RESULTS (file to write; default bench/RESULTS.md, or none with --quick), BENCH_KEEP=1
 * keeps the work directory, BENCH_COMMIT names the code measured (default: from git). ROSTER_*
 * variables pass through to Roster's config. `--quick` means 2 s runs, 1 s warm-up, 1 round.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { createReadStream, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type RequestSpec } from 'autocannon';
import SQLite from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { foldKey } from '../src/users/model.js';
import { ask, awaitReply, type ServerKind } from './ipc.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { writeResultsSection } from './results-file.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SERVERS_JS = fileURLToPath(new URL('./servers.js', import.meta.url));
const TARGET_RATIO = 0.85;
/** Roster GET by id with an API key, against the same with authentication stubbed. */
const AUTH_TARGET_RATIO = 0.9;
const SEED_BATCH = 25_000;
const CHILD_START_TIMEOUT_MS = 30_000;
const CHILD_STOP_TIMEOUT_MS = 15_000;
const IPC_TIMEOUT_MS = 10_000;
const PROFILE_INTERVAL_US = 250;
const PROFILE_NOTE =
  'Taken with the V8 inspector profiler in the server child during one more GET-by-id run of the warm servers (after the measured rounds, so it does not disturb them). V8 samples on a wall-clock tick: a native frame that enters the kernel or is preempted (`writev` to the socket, `all`/`get` stepping SQLite, which reads pages with `pread`) collects samples while the core serves the load generator or another process, so native frames are over-weighted on this 2-core machine. Read the JavaScript frames and the per-origin split relative to each other, and the CPU µs/req column for absolute cost. Set BENCH_KEEP=1 to keep the `.cpuprofile` files (open them in Chrome DevTools).';

interface Settings {
  readonly users: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly connections: number;
  readonly profile: 'auto' | 'always' | 'never';
  readonly resultsFile: string | undefined;
  readonly keep: boolean;
  readonly quick: boolean;
}

function readSettings(): Settings {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' } }, strict: true });
  const quick = values.quick === true;
  const env = process.env;
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = env[key];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${key}=${raw} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const profile = env.BENCH_PROFILE ?? 'auto';
  if (profile !== 'auto' && profile !== 'always' && profile !== 'never')
    throw new Error(`BENCH_PROFILE=${profile} must be auto, always or never`);
  const results = env.BENCH_RESULTS;
  return {
    users: int('BENCH_USERS', 100_000, 1_000, 5_000_000),
    durationS: int('BENCH_DURATION', quick ? 2 : 10, 1, 600),
    warmupS: int('BENCH_WARMUP', quick ? 1 : 3, 0, 600),
    rounds: int('BENCH_ROUNDS', quick ? 1 : 3, 1, 20),
    connections: int('BENCH_CONNECTIONS', 50, 1, 1000),
    profile,
    resultsFile: results !== undefined && results !== '' ? results : quick ? undefined : join(REPO_ROOT, 'bench', 'RESULTS.md'),
    keep: env.BENCH_KEEP === '1',
    quick,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed if this process ends for any reason.

const children = new Set<ChildProcess>();
let unexpectedExit: string | undefined;
let currentLoad: { stop(): void } | undefined;

function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the benchmark and its servers`);
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

interface ServerChild {
  readonly kind: ServerKind;
  readonly process: ChildProcess;
  readonly url: string;
  /** The `Authorization` value the server wants (Roster's bootstrap admin key, once auth is on). */
  readonly authorization: string | undefined;
  /** Where the server's stdout goes (Roster's request log), if anywhere. */
  readonly stdoutFile: string | undefined;
  stopping: boolean;
}

async function startServerChild(kind: ServerKind, arg: string, stdoutFile?: string): Promise<ServerChild> {
  const out = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'a');
  let child: ChildProcess;
  try {
    child = fork(SERVERS_JS, [kind, arg], { stdio: ['ignore', out, 'inherit', 'ipc'], execArgv: [] });
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
  children.add(child);
  const entry: { stopping: boolean } = { stopping: false };
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (!entry.stopping) {
      unexpectedExit = `${kind} server (pid ${child.pid}) exited unexpectedly (code ${code}, signal ${signal})`;
      currentLoad?.stop();
    }
  });
  const { url, authorization } = await awaitReply(child, 'ready', CHILD_START_TIMEOUT_MS);
  return Object.assign(entry, { kind, process: child, url, authorization, stdoutFile });
}

async function stopServerChild(server: ServerChild): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  server.stopping = true;
  const exited = new Promise<void>((resolve) => server.process.once('exit', () => resolve()));
  try {
    server.process.send({ type: 'stop' });
  } catch {
    server.process.kill('SIGKILL');
  }
  const timer = setTimeout(() => {
    console.error(`${server.kind} server did not stop within ${CHILD_STOP_TIMEOUT_MS} ms; killing it`);
    server.process.kill('SIGKILL');
  }, CHILD_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function cpuMicros(server: ServerChild): Promise<number> {
  return (await ask(server.process, { type: 'usage' }, 'usage', IPC_TIMEOUT_MS)).cpuMicros;
}

// ---------------------------------------------------------------------------------------------
// Seeding: the real migrations, then raw prepared inserts in big transactions.

interface Seeded {
  readonly ids: string[];
  /** One seeded user as Roster puts it on the wire: the fixed body of baseline A. */
  readonly sampleBody: string;
  readonly seconds: number;
}

const DEPARTMENTS = ['engineering', 'sales', 'support', 'finance', 'people'];
const CITIES = ['Berlin', 'Lisbon', 'Toronto', 'Nairobi', 'Osaka'];

function attributesFor(i: number): Record<string, unknown> {
  return { department: DEPARTMENTS[i % 5], title: 'Software Engineer', location: CITIES[i % 5], employee_number: 100_000 + i };
}

async function seed(file: string, count: number): Promise<Seeded> {
  const started = performance.now();
  const database = openDatabase(file);
  try {
    await migrateToLatest(database.db, database.dialect.name);
  } finally {
    await database.close();
  }
  const connection = new SQLite(file, { fileMustExist: true });
  try {
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    // Same columns and encodings as SqlUserStore#toUserRow on SQLite: ISO-8601 text, JSON text.
    const insert = connection.prepare(
      'insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 1, ?, ?)',
    );
    const ids = new Array<string>(count);
    const createdAt = new Date().toISOString();
    const insertBatch = connection.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const id = uuidv7();
        const email = `User.${i}@Example.com`;
        const name = `Bench User ${i}`;
        insert.run(id, email, foldKey(email), name, foldKey(name), JSON.stringify(attributesFor(i)), createdAt, createdAt);
        ids[i] = id;
      }
    });
    for (let from = 0; from < count; from += SEED_BATCH) insertBatch(from, Math.min(count, from + SEED_BATCH));
    connection.pragma('wal_checkpoint(TRUNCATE)');
    const first = {
      id: ids[0],
      email: 'User.0@Example.com',
      name: 'Bench User 0',
      attributes: attributesFor(0),
      version: 1,
      created_at: createdAt,
      updated_at: createdAt,
    };
    return { ids, sampleBody: JSON.stringify(first), seconds: (performance.now() - started) / 1000 };
  } finally {
    connection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Load: autocannon in this process, latency recorded per response with microsecond resolution.

interface Run {
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly bytesPerResponse: number;
  /** CPU the server used per wall second, in percent of one core. */
  readonly serverCpuPct: number;
  /** Server CPU time (all its threads) per 2xx response: less sensitive to other load on the machine than req/s. */
  readonly cpuUsPerRequest: number;
  /** CPU this process (autocannon) used per wall second, in percent of one core. */
  readonly loadCpuPct: number;
  readonly ok: number;
  readonly failures: string | undefined;
  /** Request log lines per 2xx response (Roster only; ~1.00 means every request was logged). */
  readonly logLinesPerRequest: number | undefined;
}

async function runLoad(
  url: string,
  spec: RequestSpec,
  seconds: number,
  connections: number,
  onResponse?: (status: number, ms: number) => void,
) {
  const instance = autocannon({ url, connections, duration: seconds, timeout: 10, requests: [spec] });
  currentLoad = instance;
  if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  try {
    return await instance;
  } finally {
    currentLoad = undefined;
  }
}

async function measure(server: ServerChild, spec: RequestSpec, settings: Settings): Promise<Run> {
  if (settings.warmupS > 0) await runLoad(server.url, spec, settings.warmupS, settings.connections);
  if (server.stdoutFile !== undefined) await truncate(server.stdoutFile, 0);
  const latencyUs = createHistogram();
  const cpuBefore = await cpuMicros(server);
  const loadBefore = process.cpuUsage();
  const result = await runLoad(server.url, spec, settings.durationS, settings.connections, (status, ms) => {
    if (status >= 200 && status < 300) latencyUs.record(Math.max(1, Math.round(ms * 1000)));
  });
  const load = process.cpuUsage(loadBefore);
  const cpuAfter = await cpuMicros(server);
  if (unexpectedExit !== undefined) throw new Error(unexpectedExit);
  const ok = result['2xx'];
  const wallUs = result.duration * 1e6;
  const problems = [
    result.errors > 0 ? `${result.errors} errors` : '',
    result.timeouts > 0 ? `${result.timeouts} timeouts` : '',
    result.non2xx > 0 ? `${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})` : '',
  ].filter((s) => s !== '');
  let logLinesPerRequest: number | undefined;
  if (server.stdoutFile !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the async log writer drain
    logLinesPerRequest = (await countLines(server.stdoutFile)) / Math.max(1, ok);
  }
  return {
    reqPerSec: ok / result.duration,
    p50Ms: latencyUs.count > 0 ? latencyUs.percentile(50) / 1000 : Number.NaN,
    p99Ms: latencyUs.count > 0 ? latencyUs.percentile(99) / 1000 : Number.NaN,
    bytesPerResponse: result.throughput.total / Math.max(1, ok),
    serverCpuPct: (100 * (cpuAfter - cpuBefore)) / wallUs,
    cpuUsPerRequest: (cpuAfter - cpuBefore) / Math.max(1, ok),
    loadCpuPct: (100 * (load.user + load.system)) / wallUs,
    ok,
    failures: problems.length > 0 ? problems.join(', ') : undefined,
    logLinesPerRequest,
  };
}

async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    const buffer = chunk as Buffer;
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines++;
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

const SCENARIO_KEYS = ['bare', 'fastify', 'roster-get', 'roster-get-no-auth', 'roster-list', 'roster-post'] as const;

interface Scenario {
  readonly key: (typeof SCENARIO_KEYS)[number];
  readonly title: string;
  readonly server: ServerKind;
  readonly spec: RequestSpec;
}

function scenarios(ids: readonly string[], authorization: string | undefined): Scenario[] {
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;
  const auth: Record<string, string> = authorization === undefined ? {} : { authorization };
  // The same request stream for A, B and Roster (credentials included), so the load generator
  // does the same work for each.
  const getById: RequestSpec = {
    method: 'GET',
    path: `/v1/users/${ids[0]}`,
    headers: auth,
    setupRequest: (request) => ({ ...request, path: `/v1/users/${randomId()}` }),
  };
  const runTag = Date.now().toString(36);
  let posted = 0;
  const create: RequestSpec = {
    method: 'POST',
    path: '/v1/users',
    headers: { 'content-type': 'application/json', ...auth },
    body: '{}',
    setupRequest: (request) => {
      const n = ++posted;
      const body = JSON.stringify({ email: `Post.${runTag}.${n}@Example.com`, name: `Bench Post ${n}`, attributes: attributesFor(n) });
      return { ...request, body };
    },
  };
  return [
    { key: 'bare', title: 'A: bare node:http, fixed body', server: 'bare', spec: getById },
    { key: 'fastify', title: 'B: fastify + better-sqlite3, GET by id', server: 'fastify-sqlite', spec: getById },
    { key: 'roster-get', title: 'Roster GET /v1/users/{id}', server: 'roster', spec: getById },
    // The same request stream, credentials included: only their verification is missing.
    { key: 'roster-get-no-auth', title: 'Roster GET /v1/users/{id}, auth stubbed', server: 'roster-no-auth', spec: getById },
    {
      key: 'roster-list',
      title: 'Roster GET /v1/users?limit=50',
      server: 'roster',
      spec: { method: 'GET', path: '/v1/users?limit=50', headers: auth },
    },
    { key: 'roster-post', title: 'Roster POST /v1/users', server: 'roster', spec: create },
  ];
}

/** One request per server before any load, so a broken server fails fast instead of measuring errors. */
async function sanityCheck(servers: Record<ServerKind, ServerChild>, id: string): Promise<void> {
  const auth: Record<string, string> = servers.roster.authorization === undefined ? {} : { authorization: servers.roster.authorization };
  const check = async (
    url: string,
    init: RequestInit,
    expectStatus: number,
    test: (body: unknown, headers: Headers) => boolean,
    what: string,
  ) => {
    const response = await fetch(url, {
      ...init,
      headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(5000),
    });
    const body: unknown = await response.json();
    if (response.status !== expectStatus || !test(body, response.headers)) {
      const hint =
        response.status === 401
          ? ' (Roster wants credentials: the benchmark sends the bootstrap admin key Roster prints on stderr, alone on a line starting "rk_", when it starts on a new database; none was printed)'
          : '';
      throw new Error(`sanity check failed for ${what}: HTTP ${response.status} ${JSON.stringify(body).slice(0, 300)}${hint}`);
    }
  };
  const hasId = (body: unknown) => (body as { id?: unknown }).id === id;
  await check(`${servers.bare.url}/v1/users/${id}`, {}, 200, hasId, 'bare node:http');
  await check(`${servers['fastify-sqlite'].url}/v1/users/${id}`, {}, 200, hasId, 'fastify + better-sqlite3');
  await check(
    `${servers.roster.url}/v1/users/${id}`,
    {},
    200,
    (b, h) => hasId(b) && h.get('etag') !== null && h.get('x-request-id') !== null,
    'Roster GET',
  );
  await check(
    `${servers['roster-no-auth'].url}/v1/users/${id}`,
    {},
    200,
    (b, h) => hasId(b) && h.get('etag') !== null,
    'Roster GET with auth stubbed',
  );
  // Without the header, the real Roster refuses and the stubbed one serves: proof that the stub
  // is in place, so the two GET figures do measure with and without verification.
  const statusWithoutCredentials = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).status;
  const refused = await statusWithoutCredentials(`${servers.roster.url}/v1/users/${id}`);
  const served = await statusWithoutCredentials(`${servers['roster-no-auth'].url}/v1/users/${id}`);
  if (refused !== 401 || served !== 200) {
    throw new Error(
      `sanity check failed for the auth stub: without credentials Roster answered ${refused} (want 401), the stub ${served} (want 200)`,
    );
  }
  await check(
    `${servers.roster.url}/v1/users?limit=50`,
    {},
    200,
    (b) => (b as { data: unknown[] }).data.length === 50 && typeof (b as { next_cursor: unknown }).next_cursor === 'string',
    'Roster list',
  );
  await check(
    `${servers.roster.url}/v1/users`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'sanity@example.com', name: 'Sanity' }),
    },
    201,
    (b) => typeof (b as { id?: unknown }).id === 'string',
    'Roster POST',
  );
}

// ---------------------------------------------------------------------------------------------
// Report.

interface Row {
  readonly scenario: Scenario;
  readonly runs: Run[];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (Number.isNaN(n) ? 'n/a' : n.toFixed(2));
const fmtPct = (ratio: number) => `${(100 * ratio).toFixed(1)}%`;

interface Figures {
  readonly rows: Row[];
  readonly rps: (key: Scenario['key']) => number;
  /** Roster GET / B per round, paired within the round. */
  readonly pairedRatios: number[];
  readonly ratio: number;
  /** B's server CPU per request / Roster GET's: the throughput ratio if each had a core of its own. */
  readonly cpuRatio: number;
  readonly cpuPerRequest: (key: Scenario['key']) => number;
  /** Roster GET with an API key / the same with auth stubbed, by medians and paired per round. */
  readonly authRatio: number;
  readonly pairedAuthRatios: number[];
}

function figures(rows: Row[]): Figures {
  const rps = (key: Scenario['key']) => median(rows.find((r) => r.scenario.key === key)!.runs.map((r) => r.reqPerSec));
  const get = rows.find((r) => r.scenario.key === 'roster-get')!.runs;
  const base = rows.find((r) => r.scenario.key === 'fastify')!.runs;
  const cpuPerRequest = (key: Scenario['key']) => median(rows.find((r) => r.scenario.key === key)!.runs.map((r) => r.cpuUsPerRequest));
  const stubbed = rows.find((r) => r.scenario.key === 'roster-get-no-auth')!.runs;
  return {
    rows,
    rps,
    pairedRatios: get.map((r, i) => r.reqPerSec / base[i]!.reqPerSec),
    ratio: rps('roster-get') / rps('fastify'),
    cpuRatio: cpuPerRequest('fastify') / cpuPerRequest('roster-get'),
    cpuPerRequest,
    authRatio: rps('roster-get') / rps('roster-get-no-auth'),
    pairedAuthRatios: get.map((r, i) => r.reqPerSec / stubbed[i]!.reqPerSec),
  };
}

function table(f: Figures): string {
  const header =
    '| Scenario | req/s (median) | req/s range | p50 ms | p99 ms | bytes/resp | server CPU | server CPU µs/req | autocannon CPU | vs B (fastify + sqlite) | vs A (bare node:http) |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = f.rows.map(({ scenario, runs }) => {
    const rps = median(runs.map((r) => r.reqPerSec));
    const range =
      runs.length > 1 ? `${fmtInt(Math.min(...runs.map((r) => r.reqPerSec)))}–${fmtInt(Math.max(...runs.map((r) => r.reqPerSec)))}` : '–';
    const vsB = scenario.key === 'fastify' ? '100%' : scenario.key === 'bare' ? '' : fmtPct(rps / f.rps('fastify'));
    const failures = runs.map((r) => r.failures).filter((x) => x !== undefined);
    const note = failures.length > 0 ? ` ⚠ ${failures.join('; ')}` : '';
    return `| ${scenario.title}${note} | ${fmtInt(rps)} | ${range} | ${fmtMs(median(runs.map((r) => r.p50Ms)))} | ${fmtMs(median(runs.map((r) => r.p99Ms)))} | ${fmtInt(median(runs.map((r) => r.bytesPerResponse)))} | ${median(runs.map((r) => r.serverCpuPct)).toFixed(0)}% | ${median(runs.map((r) => r.cpuUsPerRequest)).toFixed(0)} | ${median(runs.map((r) => r.loadCpuPct)).toFixed(0)}% | ${vsB} | ${fmtPct(rps / f.rps('bare'))} |`;
  });
  return [header, ...lines].join('\n');
}

function verdict(f: Figures): string {
  const met = f.ratio >= TARGET_RATIO;
  const logged = f.rows
    .filter((r) => r.scenario.server === 'roster' || r.scenario.server === 'roster-no-auth')
    .map((r) => `${r.scenario.title}: ${median(r.runs.map((x) => x.logLinesPerRequest ?? 0)).toFixed(3)}`)
    .join('; ');
  return [
    `**Target: Roster GET by id ≥ ${fmtPct(TARGET_RATIO)} of B. Measured: ${fmtPct(f.ratio)} (medians) — ${met ? 'met' : 'NOT met'}.**`,
    `Paired per-round ratios (Roster GET / B in the same round): ${f.pairedRatios.map(fmtPct).join(', ')}.`,
    `By server CPU per request, which other load on the machine disturbs less: Roster GET ${f.cpuPerRequest('roster-get').toFixed(0)} µs, B ${f.cpuPerRequest('fastify').toFixed(0)} µs, so B/Roster = ${fmtPct(f.cpuRatio)}.`,
    `Request log lines per 2xx response (1.000 = one line per request): ${logged}.`,
    authVerdict(f),
  ].join('\n\n');
}

/** The API key cache Roster runs with here: its default unless ROSTER_AUTH_CACHE_TTL_MS passes through. */
const authCacheTtlMs = loadConfig({ ROSTER_AUTH_CACHE_TTL_MS: process.env.ROSTER_AUTH_CACHE_TTL_MS }).auth.cacheTtlMs;

function authVerdict(f: Figures): string {
  const withKey = f.cpuPerRequest('roster-get');
  const stubbed = f.cpuPerRequest('roster-get-no-auth');
  return [
    `**Target: Roster GET by id with an API key ≥ ${fmtPct(AUTH_TARGET_RATIO)} of the same with authentication stubbed. Measured: ${fmtInt(f.rps('roster-get'))} vs ${fmtInt(f.rps('roster-get-no-auth'))} req/s = ${fmtPct(f.authRatio)} (medians) — ${f.authRatio >= AUTH_TARGET_RATIO ? 'met' : 'NOT met'}.** Verified keys are cached in memory for ${fmtInt(authCacheTtlMs)} ms (ROSTER_AUTH_CACHE_TTL_MS), so a request with a known key costs a header parse, a SHA-256 of the secret, a constant-time compare and a map lookup.`,
    `Paired per-round ratios (with key / stubbed in the same round): ${f.pairedAuthRatios.map(fmtPct).join(', ')}. By server CPU per request: with key ${withKey.toFixed(0)} µs, stubbed ${stubbed.toFixed(0)} µs, so stubbed/with key = ${fmtPct(stubbed / withKey)} (${(withKey - stubbed).toFixed(0)} µs per request for verification).`,
  ].join('\n\n');
}

/** The commit measured: BENCH_COMMIT, or what git says about the working tree (read-only). */
function commit(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('log', '-1', '--format=%h (%cs)');
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'package.json', 'package-lock.json') !== '';
    return `${head}${dirty ? ' (plus uncommitted changes under src/)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function machine(): string[] {
  let nproc = String(os.availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    // keep availableParallelism()
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const versions = ['fastify', 'better-sqlite3', 'kysely', 'pino', 'autocannon']
    .map(
      (name) =>
        `${name} ${(JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`,
    )
    .join(', ');
  return [
    `- CPU: ${model}, nproc ${nproc}; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()}`,
    `- Node.js ${process.version}`,
    `- Roster commit: ${commit()}`,
    `- Packages: ${versions}`,
  ];
}

function profileSection(title: string, summary: ProfileSummary, run: Run, full: boolean): string {
  const rows = (frames: { frame: string; origin: string; percent: number }[]) =>
    frames.map((f) => `| ${f.percent.toFixed(1)}% | ${f.origin} | \`${f.frame.replace(/\|/g, '\\|')}\` |`).join('\n');
  const parts = [
    `#### ${title}`,
    `${summary.samples.toLocaleString('en-US')} samples over ${(summary.durationMs / 1000).toFixed(1)} s at ${PROFILE_INTERVAL_US} µs; ${fmtInt(run.reqPerSec)} req/s while profiled (profiler overhead included), server CPU ${run.serverCpuPct.toFixed(0)}%.`,
    '',
    'Self time by origin:',
    '',
    '| self | origin |\n|--:|---|',
    summary.byOrigin.map((o) => `| ${o.percent.toFixed(1)}% | ${o.origin} |`).join('\n'),
    '',
    `Top ${full ? summary.topSelf.length : 12} frames by self time:`,
    '',
    '| self | origin | frame |\n|--:|---|---|',
    rows(full ? summary.topSelf : summary.topSelf.slice(0, 12)),
  ];
  if (full) {
    parts.push(
      '',
      'Roster functions by total time (self + callees):',
      '',
      '| total | origin | frame |\n|--:|---|---|',
      rows(summary.rosterTotal.slice(0, 15)),
    );
    parts.push(
      '',
      'Library functions by total time:',
      '',
      '| total | origin | frame |\n|--:|---|---|',
      rows(summary.libraryTotal.slice(0, 20)),
    );
  }
  return parts.join('\n');
}

function command(settings: Settings): string {
  const overrides = ['BENCH_DURATION', 'BENCH_WARMUP', 'BENCH_ROUNDS', 'BENCH_CONNECTIONS', 'BENCH_USERS', 'BENCH_PROFILE']
    .filter((k) => process.env[k] !== undefined && process.env[k] !== '')
    .map((k) => `${k}=${process.env[k]}`);
  return [...overrides, settings.quick ? 'npm run bench:quick' : 'npm run bench'].join(' ');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = readSettings();
  const runSeconds = settings.warmupS + settings.durationS + 3;
  const budgetS = 300 + SCENARIO_KEYS.length * settings.rounds * runSeconds + 2 * runSeconds + settings.users / 5_000;
  setTimeout(() => {
    console.error(`benchmark exceeded its ${Math.round(budgetS)} s budget; killing the servers`);
    killChildren();
    process.exit(1);
  }, budgetS * 1000).unref();

  const work = await mkdtemp(join(os.tmpdir(), 'roster-bench-'));
  const dbFile = join(work, 'roster.db');
  const logFile = join(work, 'roster-requests.log');
  const noAuthLogFile = join(work, 'roster-no-auth-requests.log');
  const startedAt = new Date();
  console.log(
    `Roster HTTP benchmark: ${settings.rounds} round(s) × ${SCENARIO_KEYS.length} scenarios, ${settings.warmupS} s warm-up + ${settings.durationS} s each, ${settings.connections} connections; work dir ${work}`,
  );
  try {
    const seeded = await seed(dbFile, settings.users);
    console.log(
      `seeded ${fmtInt(settings.users)} users in ${seeded.seconds.toFixed(1)} s (baseline A body ${Buffer.byteLength(seeded.sampleBody)} bytes)`,
    );

    const servers: Record<ServerKind, ServerChild> = {
      bare: await startServerChild('bare', seeded.sampleBody),
      'fastify-sqlite': await startServerChild('fastify-sqlite', dbFile),
      roster: await startServerChild('roster', dbFile, logFile),
      'roster-no-auth': await startServerChild('roster-no-auth', dbFile, noAuthLogFile),
    };
    await sanityCheck(servers, seeded.ids[0]!);

    const all = scenarios(seeded.ids, servers.roster.authorization);
    const rows: Row[] = all.map((scenario) => ({ scenario, runs: [] }));
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the order each round so no scenario always follows the same one.
      for (let k = 0; k < rows.length; k++) {
        const row = rows[(k + round) % rows.length]!;
        const run = await measure(servers[row.scenario.server], row.scenario.spec, settings);
        row.runs.push(run);
        console.log(
          `round ${round + 1}/${settings.rounds}  ${row.scenario.title.padEnd(42)} ${fmtInt(run.reqPerSec).padStart(7)} req/s  p50 ${fmtMs(run.p50Ms)} ms  p99 ${fmtMs(run.p99Ms)} ms  server CPU ${run.serverCpuPct.toFixed(0)}% (${run.cpuUsPerRequest.toFixed(0)} µs/req)${run.failures ? `  ⚠ ${run.failures}` : ''}`,
        );
      }
    }
    const f = figures(rows);
    const resultTable = table(f);
    console.log(`\n${resultTable}\n\n${verdict(f)}\n`);

    let profiles = '';
    if (settings.profile === 'always' || (settings.profile === 'auto' && f.ratio < TARGET_RATIO)) {
      const getById = all.find((s) => s.key === 'roster-get')!.spec;
      const sections: string[] = [];
      for (const [server, title, full] of [
        [servers.roster, 'Roster GET /v1/users/{id}', true],
        [servers['fastify-sqlite'], 'Baseline B: fastify + better-sqlite3 (for comparison)', false],
      ] as const) {
        const file = join(work, `${server.kind}.cpuprofile`);
        await ask(server.process, { type: 'profile-start', intervalUs: PROFILE_INTERVAL_US }, 'profile-started', IPC_TIMEOUT_MS);
        const run = await measure(server, getById, { ...settings, warmupS: 0 });
        await ask(server.process, { type: 'profile-stop', file }, 'profile-stopped', 60_000);
        const summary = await summariseProfile(file, REPO_ROOT);
        sections.push(profileSection(title, summary, run, full));
        console.log(`profiled ${title}: ${file}`);
        console.log(
          summary.topSelf
            .slice(0, 15)
            .map((t) => `  ${t.percent.toFixed(1).padStart(5)}%  ${t.origin.padEnd(16)} ${t.frame}`)
            .join('\n'),
        );
      }
      profiles = sections.join('\n\n');
    }

    for (const server of Object.values(servers)) await stopServerChild(server);

    if (settings.resultsFile !== undefined) {
      const finishedAt = new Date();
      const doc = [
        '## HTTP',
        '',
        `Written by \`bench/http.ts\` on ${startedAt.toISOString()} (took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s). A report, never an assertion: the figures move with the load on this shared machine, so compare the ratios within one run, not absolute numbers across runs.`,
        '',
        '### Machine',
        '',
        ...machine(),
        '',
        '### Method',
        '',
        `- ${fmtInt(settings.users)} users seeded into a fresh SQLite file (WAL) through the real migrations, then raw prepared inserts ${fmtInt(SEED_BATCH)} rows per transaction (${seeded.seconds.toFixed(1)} s).`,
        `- A: bare \`node:http\` returning one seeded user as a fixed ${Buffer.byteLength(seeded.sampleBody)}-byte JSON body. B: fastify (no logger, no schemas) with one better-sqlite3 prepared primary-key select on the same file, the row returned as JSON. Roster: \`startServer(loadConfig({...}), logger)\` from src/main.ts with every production feature on and request logging at info: pino JSON lines to stdout, which is a real file.`,
        '- "Auth stubbed": a second Roster process on the same file, started the same way, whose Authenticator returns a fixed admin principal without parsing the header, hashing the secret or looking in the key cache (bench/servers.ts). It gets the same request stream, header included, and logs to its own file. Roster GET / stubbed is the cost of API key verification.',
        `- GET by id picks a random seeded id per request (autocannon \`setupRequest\`), the same request stream for A, B and Roster. POST sends a unique email per request, no Idempotency-Key. The list is the first page, \`?limit=50\`. ${servers.roster.authorization === undefined ? 'Roster asked for no credentials (authentication not wired in this build).' : 'Every request carries `Authorization: Bearer` with the bootstrap admin API key Roster printed on start (the same header goes to A and B).'}`,
        `- autocannon ${settings.connections} connections over loopback, ${settings.warmupS} s warm-up then ${settings.durationS} s measured per scenario; ${settings.rounds} round(s), scenario order rotated each round; the table gives medians of the rounds. Each server runs in its own child process; autocannon runs in the parent, so load generator and server share the ${os.availableParallelism()} cores. "server CPU" is the server's CPU time per wall second (100% = one core busy); when A's server is well under 100%, the load generator, not the server, is the limit.`,
        '- Latency percentiles are per response with microsecond resolution, 2xx only. "server CPU µs/req" is the server process\'s CPU time (all threads, including the log writer) divided by its 2xx responses.',
        '',
        '### Results',
        '',
        resultTable,
        '',
        verdict(f),
        ...(profiles === '' ? [] : ['', '### CPU profile of the GET-by-id run', '', PROFILE_NOTE, '', profiles]),
        '',
        '### Command',
        '',
        '```',
        command(settings),
        '```',
        '',
      ].join('\n');
      await writeResultsSection(settings.resultsFile, 'http', doc);
      console.log(`wrote ${settings.resultsFile}`);
    }
  } finally {
    killChildren();
    if (settings.keep) console.log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    killChildren();
    process.exit(1);
  },
);
