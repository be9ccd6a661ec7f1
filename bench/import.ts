/**
 * Bulk import and export throughput (reported, never asserted). Generates BENCH_IMPORT_ROWS
 * (1M) deterministic CSV rows, emails in random order, then measures in one run:
 *
 *   sqlite3 .import   the sqlite3 CLI into a table with a unique index on lower(email) (the baseline)
 *   psql \copy        psql into the same table on PostgreSQL (the baseline)
 *   roster            Roster's import (ImportService, as `roster import` runs it) into a fresh
 *                     migrated database, per-user events and summary events, on both dialects
 *   export            Roster's export of the imported directory (CSV)
 *
 * Each Roster run is a child process (its peak RSS is its own, from resourceUsage().maxRSS),
 * while this process acts as an API instance on the same database doing single-row user
 * creates through UsersService, one after another, and records the worst latency: how long
 * an API write waited for the import's transactions. SQLite transaction sizes are compared
 * too (the time budget is chosen from these figures), and a floor: SQLite alone inserting the
 * pre-parsed rows into Roster's users table, what no import into that schema can beat.
 * Usage: npm run bench:import  (BENCH_IMPORT_ROWS=… to change the size, BENCH_IMPORT_ONLY=sqlite|postgres for one database's rows, BENCH_IMPORT_BIG=10000000 for the RSS-flatness run;
 *   SQLite only: BENCH_IMPORT_EVENTS=per-user|summary, BENCH_IMPORT_VARIANTS=default,worker,floor,floor:same-sizes)
 */
import { execFile, execFileSync, fork } from 'node:child_process';
import { createWriteStream, createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { parse } from 'csv-parse';
import { from as copyFrom } from 'pg-copy-streams';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { exportUsers } from '../src/imports/export/export.js';
import type { EventsMode } from '../src/imports/jobs/job.js';
import { ImportService, SQLITE_IMPORT_TRANSACTION } from '../src/imports/service.js';
import { SqlImportJobStore } from '../src/imports/jobs/sql-job-store.js';
import { batchWriterFor, importBatchFor, importFrontHalf, importTransactionFor, isTransientImportError } from '../src/compose/imports.js';
import { rowCount } from '../src/imports/read/batch.js';
import { foldKey } from '../src/users/model.js';
import { generatedFile } from '../test/imports/generated-users.js';
import { POSTGRES_URL, withDatabase } from '../test/helpers/databases.js';
import { usersServiceOver } from '../test/helpers/app.js';
import { writeResultsSection } from './results-file.js';
import { applyHeapPolicy } from '../src/cli/heap-policy.js';

const run = promisify(execFile);
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
/** `sqlite` or `postgres`: run only that database's rows (the baselines always run). */
const ONLY = process.env.BENCH_IMPORT_ONLY;
const BIG = process.env.BENCH_IMPORT_BIG === undefined ? undefined : Number(process.env.BENCH_IMPORT_BIG);
/** Rounds of the SQLite comparison (the import, the same with ROSTER_IMPORT_SQLITE_WORKER=true, the floor), interleaved. */
const ROUNDS = Number(process.env.BENCH_IMPORT_ROUNDS ?? 1);
/** `per-user` or `summary`: only that events mode in the SQLite comparison. */
const EVENTS = process.env.BENCH_IMPORT_EVENTS;
/** Which runs of the SQLite comparison, by name (`default,worker,floor,floor:same-sizes`); all by default. */
const VARIANTS = process.env.BENCH_IMPORT_VARIANTS?.split(',');
/** `0`: skip the SQLite transaction-size variants. */
const SIZING = process.env.BENCH_IMPORT_SIZING !== '0';
const RESULTS = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));

interface ChildResult {
  readonly kind: 'import' | 'export';
  readonly rows: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  /** User + system CPU of the child: steadier than wall time on a shared machine. */
  readonly cpuSeconds: number;
  /** User + system CPU of the child's main thread alone (Linux /proc), where the SQLite writes run. */
  readonly mainCpuSeconds?: number;
  /** The longest batch write (on SQLite: how long one transaction held the write lock, plus Kysely's lock wait). */
  readonly longestBatchMs?: number;
  /**
   * The longest the importing thread's event loop went without a turn (monitorEventLoopDelay's
   * max): in a server, how long a request could wait behind the import's transactions.
   */
  readonly longestLoopStallMs?: number;
  /** The rows of each batch the import committed, in order: on SQLite its transactions' sizes, which a floor can repeat. */
  readonly transactionRows?: readonly number[];
  readonly status?: string;
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** The main thread's user + system CPU (its task in /proc: utime and stime, in clock ticks); undefined off Linux. */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch {
    return undefined;
  }
}

// ---- child side ---------------------------------------------------------------------------

/**
 * `sizing`: `default` runs with the settings `roster import` uses (importBatchFor and
 * importTransactionFor), `worker` the same with ROSTER_IMPORT_SQLITE_WORKER=true, `rows:N` with
 * fixed N-row batches, `budget:MS` with an MS time budget.
 */
async function childImport(url: string, file: string, events: EventsMode, sizing: string): Promise<ChildResult> {
  // The heap sizing `roster import` sets for itself (after this child's modules loaded, where the CLI sets it before).
  applyHeapPolicy('import');
  const database = openDatabase(url, { poolSize: 2 });
  try {
    const [kind, value] = sizing.split(':');
    const batch = kind === 'rows' ? { ...importBatchFor(database), maxRows: Number(value) } : importBatchFor(database);
    const transaction =
      kind === 'budget'
        ? { ...SQLITE_IMPORT_TRANSACTION, targetMs: Number(value) }
        : kind === 'rows'
          ? undefined
          : importTransactionFor(database);
    let longestBatchMs = 0;
    const transactionRows: number[] = [];
    const writerFor = batchWriterFor(database);
    const service = new ImportService({
      jobs: new SqlImportJobStore(database.db, database.dialect),
      writerFor: (job) => {
        const writer = writerFor(job);
        return {
          overlapsReading: writer.overlapsReading,
          encoding: writer.encoding,
          async write(batch, signal) {
            const startedAt = performance.now();
            try {
              const written = await writer.write(batch, signal);
              transactionRows.push(rowCount(batch));
              return written;
            } finally {
              longestBatchMs = Math.max(longestBatchMs, performance.now() - startedAt);
            }
          },
          close: () => writer.close(),
        };
      },
      isTransient: isTransientImportError(database),
      newId: uuidv7,
      batch,
      // `worker`: ROSTER_IMPORT_SQLITE_WORKER=true (SQLite create runs read the file in a worker thread, their rows encoded).
      ...(kind === 'worker' ? { frontHalf: importFrontHalf } : {}),
      ...(transaction === undefined ? {} : { transaction }),
    });
    const job = await service.create({ format: 'csv', mode: 'create', events, dryRun: false, options: {}, source: file });
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const started = performance.now();
    const { job: done } = await service.run(job, createReadStream(file), {
      signal: new AbortController().signal,
    });
    const seconds = (performance.now() - started) / 1000;
    loop.disable();
    return {
      kind: 'import',
      rows: done.counts.created,
      seconds,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      cpuSeconds: cpuSeconds(),
      ...optional('mainCpuSeconds', mainThreadCpuSeconds()),
      longestBatchMs,
      longestLoopStallMs: loop.max / 1e6,
      transactionRows,
      status: done.status,
    };
  } finally {
    await database.close();
  }
}

/** A file's rows pre-parsed, with everything the rows of `users` and `events` need (not timed). */
async function parsedRows(file: string): Promise<{ users: unknown[][]; events: unknown[][] }> {
  const users: unknown[][] = [];
  const events: unknown[][] = [];
  const at = new Date().toISOString();
  const run = uuidv7(); // imported_by: a run id (uuid on PostgreSQL)
  const parser = createReadStream(file).pipe(parse({ from_line: 2 }));
  for await (const [email, name, attributes] of parser as AsyncIterable<string[]>) {
    const id = uuidv7();
    const attrs = attributes === '' ? '{}' : attributes!;
    users.push([id, email!, foldKey(email!), name!, foldKey(name!), attrs, 1, at, at, run]);
    const document = { id, email, name, attributes: JSON.parse(attrs) as unknown, version: 1, created_at: at, updated_at: at };
    events.push([uuidv7(), 'user.created', at, 'system:import', null, id, JSON.stringify({ user: document })]);
  }
  return { users, events };
}

const FLOOR_USER_COLUMNS = 'id, email, email_key, name, name_key, attributes, version, created_at, updated_at, imported_by';
const FLOOR_EVENT_COLUMNS = 'id, type, occurred_at, actor, request_id, subject_id, data';

/**
 * The floor of issue 15, item 5: the database alone inserting the file's pre-parsed rows into
 * Roster's own tables (users, and events when `events` is per-user) in the import's transaction
 * sizes: on SQLite (under the pragmas an import sets) both 20,000 rows, the import's largest, and
 * the sizes the `roster import` run just before committed (its time budget makes them smaller,
 * and each transaction rewrites the index pages it dirtied); 10,000 rows on PostgreSQL. No
 * validation, dedupe, job bookkeeping or progress. SQLite: prepared statements with the
 * import's `on conflict do nothing`. PostgreSQL: `copy` straight into the tables (no conflict
 * handling, which an import cannot do without: a floor no import can reach), or with
 * `insert … select from unnest(…) on conflict do nothing`, one statement per table and transaction.
 */
async function childFloor(url: string, file: string, events: EventsMode, method: string): Promise<ChildResult> {
  // `sizes:N,N,…`: SQLite transactions of those sizes in turn (the import's own), else 20,000 rows each.
  const sizes = method.startsWith('sizes:') ? method.slice('sizes:'.length).split(',').map(Number) : [];
  const database = openDatabase(url, { poolSize: 1 });
  try {
    const rows = await parsedRows(file);
    const count = rows.users.length;
    const withEvents = events === 'per-user';
    // The statements' parameters and COPY text too are made before the clock starts: a floor is
    // the database's work alone (serialising the events' JSON into array parameters had taken
    // the floor's own process 4.7 s of 200,000 rows, more than the import spent on them).
    const postgresBatches = database.driver.kind === 'postgres' ? postgresFloorBatches(rows, withEvents, method) : [];
    if (database.driver.kind === 'postgres') rows.users.length = rows.events.length = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    if (database.driver.kind === 'sqlite') {
      const connection = database.driver.connection;
      connection.pragma('cache_size = -32768');
      connection.pragma('wal_autocheckpoint = 10000');
      const insertUser = connection.prepare(
        `insert into users (${FLOOR_USER_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing`,
      );
      const insertEvent = connection.prepare(`insert into events (${FLOOR_EVENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?)`);
      for (let from = 0, t = 0; from < rows.users.length; t++) {
        const to = Math.min(rows.users.length, from + (sizes[t] ?? 20_000));
        connection.transaction(() => {
          for (let i = from; i < to; i++) {
            insertUser.run(...rows.users[i]!);
            if (withEvents) insertEvent.run(...rows.events[i]!);
          }
        })();
        from = to;
      }
    } else {
      const client = await database.driver.pool.connect();
      try {
        for (const batch of postgresBatches) {
          await client.query('begin');
          if (batch.method === 'copy') {
            await copyText(client, 'users', FLOOR_USER_COLUMNS, batch.users);
            if (batch.events !== undefined) await copyText(client, 'events', FLOOR_EVENT_COLUMNS, batch.events);
          } else {
            await client.query(
              `insert into users (${FLOOR_USER_COLUMNS}) select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::jsonb[], $7::int[], $8::timestamptz[], $9::timestamptz[], $10::uuid[]) on conflict do nothing`,
              batch.users,
            );
            if (batch.events !== undefined)
              await client.query(
                `insert into events (${FLOOR_EVENT_COLUMNS}) select * from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[],
                   $5::text[], $6::uuid[], $7::jsonb[])`,
                batch.events,
              );
          }
          await client.query('commit');
        }
      } finally {
        client.release();
      }
    }
    const used = process.cpuUsage(cpu);
    const mainCpu = mainThreadCpuSeconds();
    return {
      kind: 'import',
      rows: count,
      seconds: (performance.now() - started) / 1000,
      peakRssMb: -1, // the parsed rows are held in memory on purpose: not an import's RSS
      cpuSeconds: (used.user + used.system) / 1e6,
      // The floor's rows are parsed before it starts: its main-thread CPU is its insert time only.
      ...optional('mainCpuSeconds', mainCpu === undefined ? undefined : (used.user + used.system) / 1e6),
    };
  } finally {
    await database.close();
  }
}

const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

/** One 10,000-row transaction of the PostgreSQL floor: COPY text, or each unnest() column as an array literal. */
type FloorBatch =
  | { readonly method: 'copy'; readonly users: string; readonly events: string | undefined }
  | { readonly method: 'unnest'; readonly users: string[]; readonly events: string[] | undefined };

function postgresFloorBatches(rows: { users: unknown[][]; events: unknown[][] }, withEvents: boolean, method: string): FloorBatch[] {
  const batches: FloorBatch[] = [];
  for (let from = 0; from < rows.users.length; from += 10_000) {
    const users = rows.users.slice(from, from + 10_000);
    const events = withEvents ? rows.events.slice(from, from + 10_000) : undefined;
    batches.push(
      method === 'copy'
        ? { method, users: copyTextOf(users), events: events && copyTextOf(events) }
        : { method: 'unnest', users: arrayColumns(users, 10), events: events && arrayColumns(events, 7) },
    );
  }
  return batches;
}

/** Each column of `rows` as a PostgreSQL array literal (what pg would send for a JS array). */
const arrayColumns = (rows: unknown[][], width: number) =>
  Array.from({ length: width }, (_, c) => `{${rows.map((row) => arrayElement(row[c] as string | number | null)).join(',')}}`);

const arrayElement = (value: string | number | null) => (value === null ? 'NULL' : `"${String(value).replace(/[\\"]/g, '\\$&')}"`);

const copyCell = (value: string | number | null) =>
  value === null ? '\\N' : String(value).replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);

const copyTextOf = (rows: unknown[][]) =>
  rows.map((row) => row.map((cell) => copyCell(cell as string | number | null)).join('\t')).join('\n') + '\n';

async function copyText(client: pg.PoolClient, table: string, columns: string, text: string): Promise<void> {
  await pipeline(Readable.from([text]), client.query(copyFrom(`copy ${table} (${columns}) from stdin`)));
}

async function childExport(url: string): Promise<ChildResult> {
  const database = openDatabase(url, { poolSize: 2 });
  try {
    let rows = 0;
    const started = performance.now();
    await pipeline(
      Readable.from(exportUsers(database, { format: 'csv' })),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const byte of chunk) if (byte === 0x0a) rows++;
          done();
        },
      }),
    );
    return {
      kind: 'export',
      rows: rows - 1,
      seconds: (performance.now() - started) / 1000,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      cpuSeconds: cpuSeconds(),
    };
  } finally {
    await database.close();
  }
}

// ---- parent side --------------------------------------------------------------------------

/** Runs a child while `during` writes through the API; returns the child's figures and the worst API write latency. */
async function inChild(
  args: string[],
  flags: string[],
  apiDatabase?: Database,
): Promise<ChildResult & { worstWriteMs?: number; writes?: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', ...args], {
    execArgv: flags,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const result = new Promise<ChildResult>((resolve, reject) => {
    child.once('message', (message) => resolve(message as ChildResult));
    child.once('exit', (code) => reject(new Error(`bench child exited ${code}`)));
  });
  let stop = false;
  let worst = 0;
  let writes = 0;
  const writer = (async () => {
    if (apiDatabase === undefined) return;
    const users = await usersServiceOver(apiDatabase);
    for (let i = 0; !stop; i++) {
      const started = performance.now();
      await users.create({ email: `api-${uuidv7()}@example.com`, name: `Api ${i}` }, undefined, { actor: 'bench' });
      worst = Math.max(worst, performance.now() - started);
      writes++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const figures = await result;
    return apiDatabase === undefined ? figures : { ...figures, worstWriteMs: worst, writes };
  } finally {
    stop = true;
    await writer;
  }
}

async function freshSqlite(dir: string, name: string): Promise<string> {
  const file = join(dir, `${name}.db`);
  const database = openDatabase(file);
  await migrateToLatest(database.db, database.dialect.name);
  await database.close();
  return file;
}

async function freshPostgres(admin: pg.Client, name: string): Promise<string> {
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  const url = withDatabase(POSTGRES_URL, name);
  const database = openDatabase(url, { poolSize: 2 });
  await migrateToLatest(database.db, database.dialect.name);
  await database.close();
  return url;
}

const BASELINE_TABLE = 'create table users_plain (email text not null, name text not null, attributes text)';
const BASELINE_INDEX = 'create unique index users_plain_email on users_plain (lower(email))';

async function sqliteBaseline(dir: string, file: string): Promise<number> {
  const db = join(dir, 'baseline.db');
  await rm(db, { force: true });
  await run('sqlite3', [db, 'pragma journal_mode=wal;', BASELINE_TABLE, BASELINE_INDEX]);
  const started = performance.now();
  await run('sqlite3', [db, '.mode csv', `.import --skip 1 ${file} users_plain`], { maxBuffer: 64 * 1024 * 1024 });
  return (performance.now() - started) / 1000;
}

async function postgresBaseline(admin: pg.Client, file: string): Promise<number> {
  await admin.query('drop database if exists roster_bench_baseline with (force)');
  await admin.query('create database roster_bench_baseline');
  const url = withDatabase(POSTGRES_URL, 'roster_bench_baseline');
  await run('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', BASELINE_TABLE, '-c', BASELINE_INDEX]);
  const started = performance.now();
  await run('psql', [
    url,
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    `\\copy users_plain (email, name, attributes) from '${file}' with (format csv, header true)`,
  ]);
  const seconds = (performance.now() - started) / 1000;
  await admin.query('drop database roster_bench_baseline with (force)');
  return seconds;
}

const rate = (rows: number, seconds: number) => Math.round(rows / seconds).toLocaleString('en-US');
const mb = (n: number) => (n < 0 ? '—' : `${Math.round(n)} MB`);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'roster-bench-import-'));
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  const lines: string[] = [];
  const log = (line: string) => {
    process.stdout.write(`${line}\n`);
    lines.push(line);
  };
  try {
    const file = join(dir, 'users.csv');
    await pipeline(generatedFile(ROWS, 'csv', 42), createWriteStream(file));
    const size = (await stat(file)).size;
    log(
      `${ROWS.toLocaleString('en-US')} generated rows (${mb(size / 1024 / 1024)} of CSV, emails in random order), ${os.cpus().length} CPUs, Node ${process.version}.`,
    );
    log('');
    const sqliteSeconds = await sqliteBaseline(dir, file);
    const psqlSeconds = await postgresBaseline(admin, file);
    log(
      '| Run | rows/s | wall | vs baseline | process CPU | main-thread CPU | peak RSS | worst API write while importing | longest batch write | longest event-loop stall | load |',
    );
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    log(
      `| \`sqlite3 .import\` (baseline) | ${rate(ROWS, sqliteSeconds)} | ${sqliteSeconds.toFixed(1)} s | 1.00× | — | — | — | — | — | — | — |`,
    );
    log(`| \`psql \\copy\` (baseline) | ${rate(ROWS, psqlSeconds)} | ${psqlSeconds.toFixed(1)} s | 1.00× | — | — | — | — | — | — | — |`);
    const row = (label: string, r: ChildResult & { worstWriteMs?: number; writes?: number }, baseline: number) =>
      log(
        `| ${label} | ${rate(r.rows, r.seconds)} | ${r.seconds.toFixed(1)} s | ${(baseline / r.seconds).toFixed(2)}× | ${r.cpuSeconds.toFixed(1)} s | ${
          r.mainCpuSeconds === undefined ? '—' : `${r.mainCpuSeconds.toFixed(1)} s`
        } | ${mb(r.peakRssMb)} | ${r.worstWriteMs === undefined ? '—' : `${Math.round(r.worstWriteMs)} ms (${r.writes} writes)`} | ${
          r.longestBatchMs === undefined ? '—' : `${Math.round(r.longestBatchMs)} ms`
        } | ${r.longestLoopStallMs === undefined ? '—' : `${Math.round(r.longestLoopStallMs)} ms`} | ${os.loadavg()[0]!.toFixed(1)} |`,
      );
    // SQLite: the settings `roster import` uses, then the same file with other transaction sizes
    // (summary events, so the transaction size is what differs).
    // Per mode, interleaved: the import as `roster import` runs it, the same with ROSTER_IMPORT_SQLITE_WORKER=true
    // (front half in a worker thread, rows encoded), and the floor, each in a fresh database.
    const sqliteRuns: [string, EventsMode, string][] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const tag = ROUNDS > 1 ? ` (round ${round})` : '';
      for (const events of (['per-user', 'summary'] as const).filter((e) => EVENTS === undefined || e === EVENTS)) {
        const what = events === 'summary' ? 'summary event' : 'per-user events';
        sqliteRuns.push(
          [`Roster → SQLite, ${what}${tag}`, events, 'default'],
          [
            `Roster → SQLite, ${what}, ROSTER_IMPORT_SQLITE_WORKER=true (front half in a worker thread, rows as bytes)${tag}`,
            events,
            'worker',
          ],
          [
            `Floor: SQLite alone into Roster’s ${events === 'summary' ? 'users table' : 'users and events tables'} (rows pre-parsed, 20,000-row transactions, same pragmas)${tag}`,
            events,
            'floor',
          ],
          [`Floor: the same, in the transaction sizes the import above committed${tag}`, events, 'floor:same-sizes'],
        );
      }
    }
    if (SIZING)
      sqliteRuns.push(
        ['Roster → SQLite, summary, fixed 2,000-row batches (the previous setting)', 'summary', 'rows:2000'],
        ['Roster → SQLite, summary, 100 ms transactions', 'summary', 'budget:100'],
        ['Roster → SQLite, summary, 500 ms transactions', 'summary', 'budget:500'],
      );
    let exportSource: string | undefined;
    let n = 0;
    /** The transaction sizes of the last `roster import`-settings run, for the floor that repeats them. */
    let importSizes: readonly number[] = [];
    const chosen = sqliteRuns.filter(([, , sizing]) => VARIANTS === undefined || VARIANTS.includes(sizing));
    for (const [label, events, sizing] of ONLY === 'postgres' ? [] : chosen) {
      const url = await freshSqlite(dir, `roster-${events}-${sizing.replace(':', '-')}-${n++}`);
      if (sizing.startsWith('floor')) {
        const method = sizing === 'floor:same-sizes' ? `sizes:${importSizes.join(',')}` : 'insert';
        row(label, await inChild(['floor', url, file, events, method], []), sqliteSeconds);
        continue;
      }
      const api = openDatabase(url);
      try {
        const r = await inChild(['import', url, file, events, sizing], [], api);
        row(label, r, sqliteSeconds);
        if (sizing === 'default') importSizes = r.transactionRows ?? [];
      } finally {
        await api.close();
      }
      exportSource ??= url;
    }
    for (const events of ONLY === 'sqlite' ? [] : (['per-user', 'summary'] as const)) {
      const url = await freshPostgres(admin, `roster_bench_${events.replace('-', '_')}`);
      const api = openDatabase(url, { poolSize: 2 });
      try {
        const r = await inChild(['import', url, file, events, 'default'], [], api);
        row(`Roster → PostgreSQL, ${events === 'summary' ? 'summary event' : 'per-user events'}`, r, psqlSeconds);
      } finally {
        await api.close();
      }
      if (events === 'summary') {
        const e = await inChild(['export', url], []);
        log(
          `| Export from PostgreSQL (CSV) | ${rate(e.rows, e.seconds)} | ${e.seconds.toFixed(1)} s | — | ${e.cpuSeconds.toFixed(1)} s | — | ${mb(e.peakRssMb)} | — | — | — | — |`,
        );
      }
      await admin.query(`drop database roster_bench_${events.replace('-', '_')} with (force)`);
      for (const method of ['insert', 'copy'] as const) {
        const floorUrl = await freshPostgres(admin, 'roster_bench_floor');
        const floor = await inChild(['floor', floorUrl, file, events, method], []);
        row(
          `Floor: PostgreSQL alone into Roster’s ${events === 'summary' ? 'users table' : 'users and events tables'} (rows pre-parsed, 10,000-row transactions, ${method === 'copy' ? 'COPY, no conflict handling' : 'insert … unnest … on conflict do nothing'})`,
          floor,
          psqlSeconds,
        );
      }
      await admin.query('drop database roster_bench_floor with (force)');
    }
    if (exportSource !== undefined) {
      const e = await inChild(['export', exportSource], []);
      log(
        `| Export from SQLite (CSV) | ${rate(e.rows, e.seconds)} | ${e.seconds.toFixed(1)} s | — | ${e.cpuSeconds.toFixed(1)} s | — | ${mb(e.peakRssMb)} | — | — | — | — |`,
      );
    }
    if (BIG !== undefined) {
      const big = join(dir, 'big.csv');
      await pipeline(generatedFile(BIG, 'csv', 43), createWriteStream(big));
      const url = await freshSqlite(dir, 'roster-big');
      const r = await inChild(['import', url, big, 'summary', 'default'], []);
      log(
        `| Roster → SQLite, summary event, ${BIG.toLocaleString('en-US')} rows | ${rate(r.rows, r.seconds)} | ${r.seconds.toFixed(1)} s | — | ${r.cpuSeconds.toFixed(1)} s | — | ${mb(r.peakRssMb)} | — | — | — | — |`,
      );
    }
  } finally {
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
  await writeResultsSection(RESULTS, 'import', `## Bulk import and export (\`npm run bench:import\`)\n\n${lines.join('\n')}`);
}

const [, , mode, ...rest] = process.argv;
if (mode === '--child') {
  const [kind, url, file, events, sizing] = rest;
  const result =
    kind === 'export'
      ? await childExport(url!)
      : kind === 'floor'
        ? await childFloor(url!, file!, events as EventsMode, sizing!)
        : await childImport(url!, file!, events as EventsMode, sizing!);
  process.send!(result, () => process.exit(0));
} else {
  await main();
}
