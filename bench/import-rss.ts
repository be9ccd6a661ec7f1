/**
 * Memory of the `roster import` process (issue 15, item 5): RSS while it waits for its first row
 * (idle: stdin open, nothing written for a few seconds) and its peak (VmHWM) over the whole import,
 * on a fresh SQLite file and a fresh PostgreSQL database, summary and per-user events.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/import-rss.js [rows] [sqlite,postgres] [summary,per-user]
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { generatedFile } from '../test/imports/generated-users.js';
import { POSTGRES_URL, withDatabase } from '../test/helpers/databases.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const DATABASES = (process.argv[3] ?? 'sqlite,postgres').split(',');
const MODES = (process.argv[4] ?? 'summary,per-user').split(',');
const IDLE_MS = 3000;
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

async function status(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? Number.NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined; // the process has exited
  }
}

async function measure(url: string, file: string, events: string): Promise<{ idle: number; peak: number; seconds: number }> {
  const child = spawn(process.execPath, [CLI, 'import', '-', '--format', 'csv', '--events', events], {
    env: { ...process.env, ROSTER_DATABASE_URL: url, LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const idle = (await status(child.pid!))?.rss ?? Number.NaN;
  let peak = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const s = await status(child.pid!);
      if (s !== undefined) peak = Math.max(peak, s.hwm);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const started = performance.now();
  await pipeline(createReadStream(file), child.stdin);
  const code = await exited;
  const seconds = (performance.now() - started) / 1000;
  done = true;
  await poll;
  if (code !== 0) throw new Error(`roster import exited ${code}`);
  return { idle, peak, seconds };
}

async function freshDatabase(kind: string, dir: string, name: string): Promise<string> {
  let url: string;
  if (kind === 'sqlite') url = join(dir, `${name}.db`);
  else {
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
    `${ROWS.toLocaleString('en')} rows; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('| database | events | idle RSS MB | peak RSS MB | peak − idle | import s |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const kind of DATABASES) {
    for (const events of MODES) {
      const url = await freshDatabase(kind, dir, `roster_bench_rss_${events.replace('-', '_')}`);
      const r = await measure(url, file, events);
      console.log(
        `| ${kind} | ${events} | ${r.idle.toFixed(0)} | ${r.peak.toFixed(0)} | ${(r.peak - r.idle).toFixed(0)} | ${r.seconds.toFixed(1)} |`,
      );
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
