/**
 * The HTTP benchmark (`npm run bench`): Roster against same-run baselines doing the same database
 * work, on SQLite and on PostgreSQL, for issue 14's targets.
 *
 *   A  bare node:http returning a fixed ~300-byte JSON body (the load generator's ceiling)
 *   B  per database, a minimal fastify server with the raw driver (bench/baselines.ts): GET by id,
 *      the first 50 users in id order, POST = user + event inserted in one transaction
 *   Roster, per database, started through src/main.ts with every production feature on and
 *      request logging at info to a real file: the same three routes
 *   Roster with authentication stubbed (bench/servers.ts), per database: GET by id, the figure
 *      the same GET with an API key is compared with
 *
 * Each server runs in its own child process (bench/servers.ts) and reports its idle RSS before
 * any load; autocannon drives them from this process over loopback. Scenarios are interleaved
 * over rounds (order rotated each round) and medians reported, with per-round paired ratios, so
 * drift on a shared machine hits every scenario alike. With BENCH_NODE24 the servers run once
 * more under Node.js 24 (scripts/node24.mjs prepares it), the load generator staying on this
 * Node.js. It CPU-profiles Roster's three routes and attributes the samples to features
 * (bench/profile.ts). It reports and never asserts.
 *
 * Settings (environment): BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 3), BENCH_IDLE (s idle before
 * the idle RSS is read, 60), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (50), BENCH_USERS (100000), BENCH_DATABASES (sqlite,postgres),
 * BENCH_POSTGRES_URL (server to create the scratch database on; postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_NODE24 (0: Node.js 20 only, 1: 20 then 24, only: 24 only), BENCH_PROFILE (always, the
 * default: the cost-by-feature table in every run | auto: only where GET by id misses its target | never), BENCH_RESULTS (file to write; default
 * bench/RESULTS.md, or none with --quick), BENCH_KEEP=1 keeps the work directory, BENCH_COMMIT
 * names the code measured (default: from git). ROSTER_* variables pass through to Roster's config.
 * `--quick` means 2 s runs, 1 s warm-up, 1 round.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeResultsSection } from './results-file.js';
import { describeMethod, formatReport } from './http-report.js';
import { measureRuntime, type Databases } from './http-runtime.js';
import type { RuntimeResult } from './report.js';
import { killChildren, type Runtime } from './runner.js';
import type { DatabaseName } from './scenarios.js';
import { copySqlite, createPostgresDatabase, dropPostgresDatabase, postgresAnswers, seedPostgres, seedSqlite, seedUsers } from './seed.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface Settings {
  readonly users: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** Seconds every server sits idle after start before its idle RSS is read. */
  readonly idleS: number;
  readonly rounds: number;
  readonly connections: number;
  readonly databases: DatabaseName[];
  readonly postgresAdminUrl: string;
  readonly node24: '0' | '1' | 'only';
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
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[]): T => {
    const raw = env[key] === undefined || env[key] === '' ? fallback : env[key];
    if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${key}=${raw} must be one of ${allowed.join(', ')}`);
    return raw as T;
  };
  const databases = (env.BENCH_DATABASES || 'sqlite,postgres').split(',').map((d) => d.trim());
  for (const d of databases)
    if (d !== 'sqlite' && d !== 'postgres') throw new Error(`BENCH_DATABASES: ${d} is neither sqlite nor postgres`);
  const results = env.BENCH_RESULTS;
  return {
    users: int('BENCH_USERS', 100_000, 1_000, 5_000_000),
    durationS: int('BENCH_DURATION', quick ? 2 : 10, 1, 600),
    warmupS: int('BENCH_WARMUP', quick ? 1 : 3, 0, 600),
    idleS: int('BENCH_IDLE', quick ? 5 : 60, 0, 600),
    rounds: int('BENCH_ROUNDS', quick ? 1 : 3, 1, 20),
    connections: int('BENCH_CONNECTIONS', 50, 1, 1000),
    databases: [...new Set(databases)] as DatabaseName[],
    postgresAdminUrl: env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    node24: oneOf('BENCH_NODE24', '0', ['0', '1', 'only']),
    profile: oneOf('BENCH_PROFILE', 'always', ['auto', 'always', 'never']),
    resultsFile: results !== undefined && results !== '' ? results : quick ? undefined : join(REPO_ROOT, 'bench', 'RESULTS.md'),
    keep: env.BENCH_KEEP === '1',
    quick,
  };
}

const NODE20: Runtime = {
  label: 'Node.js 20',
  execPath: undefined,
  serversJs: fileURLToPath(new URL('./servers.js', import.meta.url)),
  appRoot: REPO_ROOT,
};

/** Node.js 24 from the npm registry and this build compiled for it (scripts/node24.mjs, cached). */
function prepareNode24(): Runtime {
  console.log('preparing Node.js 24 (scripts/node24.mjs; cached after the first run)');
  const out = execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'node24.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  const { node, app } = JSON.parse(out.trim().split('\n').at(-1)!) as { node: string; app: string };
  return { label: 'Node.js 24', execPath: node, serversJs: join(app, 'dist', 'bench', 'servers.js'), appRoot: app };
}

async function main(): Promise<void> {
  const settings = readSettings();
  const runSeconds = settings.warmupS + settings.durationS + 2;
  const runtimeCount = settings.node24 === '1' ? 2 : 1;
  const scenarioCount = 1 + 9 * settings.databases.length;
  const budgetS =
    600 +
    runtimeCount * (120 + scenarioCount * settings.rounds * runSeconds + 4 * settings.databases.length * runSeconds) +
    settings.users / 2_000;
  setTimeout(() => {
    console.error(`benchmark exceeded its ${Math.round(budgetS)} s budget; killing the servers`);
    killChildren();
    process.exit(1);
  }, budgetS * 1000).unref();

  const work = await mkdtemp(join(os.tmpdir(), 'roster-bench-'));
  const startedAt = new Date();
  const createdPostgres: string[] = [];
  const notes: string[] = [];
  console.log(
    `Roster HTTP benchmark: ${settings.rounds} round(s) × ${scenarioCount} scenarios × ${runtimeCount} Node.js, ${settings.warmupS} s warm-up + ${settings.durationS} s each, ${settings.connections} connections; databases ${settings.databases.join(', ')}; work dir ${work}`,
  );
  try {
    const users = seedUsers(settings.users);
    const seedStarted = performance.now();
    const databases: Databases = {};
    let postgresTemplate: string | undefined;
    if (settings.databases.includes('sqlite')) {
      databases.sqlite = join(work, 'seed.db');
      await seedSqlite(databases.sqlite, users);
    }
    if (settings.databases.includes('postgres')) {
      try {
        await postgresAnswers(settings.postgresAdminUrl);
        postgresTemplate = `roster_bench_${process.pid}`;
        createdPostgres.push(postgresTemplate);
        await seedPostgres(await createPostgresDatabase(settings.postgresAdminUrl, postgresTemplate), users);
      } catch (error) {
        const line = `!!! PostgreSQL SKIPPED: ${settings.postgresAdminUrl.replace(/\/\/[^@/]*@/, '//')} did not answer or could not be seeded (${error instanceof Error ? error.message : String(error)}). No PostgreSQL figure is reported.`;
        console.error(`\n${line}\n`);
        notes.push(line);
        postgresTemplate = undefined;
      }
    }
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(
      `seeded ${settings.users.toLocaleString('en-US')} users into ${settings.databases.join(' and ')} in ${seedSeconds.toFixed(1)} s`,
    );

    const runtimes: Runtime[] = settings.node24 === 'only' ? [] : [NODE20];
    if (settings.node24 !== '0') {
      try {
        runtimes.push(prepareNode24());
      } catch (error) {
        const line = `!!! Node.js 24 SKIPPED: scripts/node24.mjs failed (${error instanceof Error ? error.message : String(error)}). No Node.js 24 figure is reported.`;
        console.error(`\n${line}\n`);
        notes.push(line);
      }
    }

    const results: RuntimeResult[] = [];
    for (const [index, runtime] of runtimes.entries()) {
      // A fresh copy per runtime: every Roster starts on a new database and prints its key.
      const copies: Databases = {};
      if (databases.sqlite !== undefined) {
        copies.sqlite = join(work, `roster-${index}.db`);
        await copySqlite(databases.sqlite, copies.sqlite);
      }
      if (postgresTemplate !== undefined) {
        const name = `${postgresTemplate}_${index}`;
        createdPostgres.push(name);
        copies.postgres = await createPostgresDatabase(settings.postgresAdminUrl, name, postgresTemplate);
      }
      results.push(await measureRuntime(runtime, copies, users.ids, settings, join(work, `run-${index}`)));
    }

    const report = formatReport(results, settings);
    console.log(`\n${report}\n`);
    if (settings.resultsFile !== undefined) {
      const finishedAt = new Date();
      const doc = [
        '## HTTP',
        '',
        `Written by \`bench/http.ts\` on ${startedAt.toISOString()} (took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s). A report, never an assertion: the figures move with the load on this shared machine, so compare the ratios within one run, not absolute numbers across runs.`,
        '',
        ...notes.flatMap((n) => [`**${n}**`, '']),
        describeMethod(settings, users.sampleBody, seedSeconds, REPO_ROOT),
        '',
        report,
      ].join('\n');
      await writeResultsSection(settings.resultsFile, 'http', doc);
      console.log(`wrote ${settings.resultsFile}`);
    }
    for (const note of notes) console.error(note);
  } finally {
    killChildren();
    for (const name of createdPostgres.reverse())
      await dropPostgresDatabase(settings.postgresAdminUrl, name).catch((error: unknown) =>
        console.error(`could not drop PostgreSQL database ${name}: ${error instanceof Error ? error.message : String(error)}`),
      );
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
