/**
 * Memory of the `roster import` process (issue 15, item 5): RSS while it waits for its first row
 * (idle: its job is running and stdin is open, nothing written yet) and its peak (VmHWM) over the
 * whole import, on a fresh SQLite file and a fresh PostgreSQL database, summary and per-user
 * events; with the process's CPU time (user + system, from /proc) and wall time.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/import-rss.js [rows] [sqlite,postgres] [summary,per-user]
 *
 * BENCH_RSS_CLI=a/dist/src/cli.js,b/dist/src/cli.js measures several builds in the same run,
 * interleaved (each database and mode runs every build in turn, BENCH_RSS_ROUNDS times, default
 * 1): the same-run comparison of a branch with main's build. Default: this build's cli.js.
 * BENCH_RSS_NODE_FLAGS (e.g. `--trace-gc`) are passed to node; the child's stderr then goes to
 * BENCH_RSS_STDERR (a file) when set.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { generatedFile } from '../test/imports/generated-users.js';
import { POSTGRES_URL, withDatabase } from '../test/helpers/databases.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const DATABASES = (process.argv[3] ?? 'sqlite,postgres').split(',');
const MODES = (process.argv[4] ?? 'summary,per-user').split(',');
const CLIS = (process.env.BENCH_RSS_CLI ?? fileURLToPath(new URL('../src/cli.js', import.meta.url))).split(',').map((p) => resolve(p));
const ROUNDS = Number(process.env.BENCH_RSS_ROUNDS ?? 1);
const NODE_FLAGS = (process.env.BENCH_RSS_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
/** Once the job is running, how long the process is left alone before its idle RSS is read. */
const SETTLE_MS = 1000;
/** How long a process may take to start and mark its job running, on a loaded machine. */
const START_TIMEOUT_MS = 120_000;
const CLOCK_TICKS = 100;

interface ProcStatus {
  readonly rss: number;
  readonly hwm: number;
  readonly cpu: number;
}

async function status(pid: number): Promise<ProcStatus | undefined> {
  try {
    const [text, stat] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? Number.NaN);
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  } catch {
    return undefined; // the process has exited
  }
}

/** Resolves once the database has a running import job (the process is loaded and waits for rows). */
async function jobRunning(url: string, exited: Promise<unknown>): Promise<void> {
  const database = openDatabase(url, { poolSize: 1 });
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const { rows } = await sql<{ n: number }>`select count(*) as n from import_jobs where status = 'running'`.execute(database.db);
      if (Number(rows[0]?.n ?? 0) > 0) return;
      if (gone) throw new Error('roster import exited before its job ran');
      if (performance.now() > deadline) throw new Error(`roster import did not start its job within ${START_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await database.close();
  }
}

interface Measured {
  readonly idle: number;
  readonly peak: number;
  readonly seconds: number;
  readonly cpu: number;
}

async function measure(cli: string, url: string, file: string, events: string): Promise<Measured> {
  const errors = process.env.BENCH_RSS_STDERR === undefined ? undefined : openSync(process.env.BENCH_RSS_STDERR, 'a');
  const child = spawn(process.execPath, [...NODE_FLAGS, cli, 'import', '-', '--format', 'csv', '--events', events], {
    env: { ...process.env, ROSTER_DATABASE_URL: url, LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'ignore', errors ?? 'ignore'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  try {
    await jobRunning(url, exited);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = (await status(child.pid!))?.rss ?? Number.NaN;
    // A zombie's status has no memory lines (NaN), but its CPU times are final.
    let peak = Number.NaN;
    let cpu = Number.NaN;
    let done = false;
    const poll = (async () => {
      while (!done) {
        const s = await status(child.pid!);
        if (s !== undefined && !Number.isNaN(s.hwm)) peak = Number.isNaN(peak) ? s.hwm : Math.max(peak, s.hwm);
        if (s !== undefined && !Number.isNaN(s.cpu)) cpu = s.cpu;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = performance.now();
    await pipeline(createReadStream(file), child.stdin!);
    const code = await exited;
    const seconds = (performance.now() - started) / 1000;
    done = true;
    await poll;
    if (code !== 0) throw new Error(`roster import exited ${code}`);
    return { idle, peak, seconds, cpu };
  } finally {
    if (errors !== undefined) closeSync(errors);
  }
}

async function freshDatabase(kind: string, dir: string, name: string): Promise<string> {
  let url: string;
  if (kind === 'sqlite') {
    url = join(dir, `${name}.db`);
    await rm(url, { force: true });
    await rm(`${url}-wal`, { force: true });
    await rm(`${url}-shm`, { force: true });
  } else {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
    await admin.end();
    url = withDatabase(POSTGRES_URL, name);
  }
  const database = openDatabase(url);
  await migrateToLatest(database.db, database.dialect.name);
  await database.close();
  return url;
}

const dir = await mkdtemp(join(tmpdir(), 'roster-import-rss-'));
try {
  const file = join(dir, 'users.csv');
  await pipeline(generatedFile(ROWS, 'csv', 42), createWriteStream(file));
  console.log(
    `${ROWS.toLocaleString('en')} rows; ${ROUNDS} round(s); load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}${NODE_FLAGS.length > 0 ? `; node ${NODE_FLAGS.join(' ')}` : ''}`,
  );
  console.log('| build | database | events | idle RSS MB | peak RSS MB | peak − idle | import s | CPU s |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of DATABASES) {
      for (const events of MODES) {
        for (const cli of CLIS) {
          const url = await freshDatabase(kind, dir, `roster_bench_rss_${events.replace('-', '_')}`);
          const r = await measure(cli, url, file, events);
          console.log(
            `| ${cli} | ${kind} | ${events} | ${r.idle.toFixed(0)} | ${r.peak.toFixed(0)} | ${(r.peak - r.idle).toFixed(0)} | ` +
              `${r.seconds.toFixed(1)} | ${r.cpu.toFixed(1)} |`,
          );
        }
      }
    }
  }
  console.log(
    `load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
