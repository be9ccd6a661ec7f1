/**
 * Issue 15, item 4: SQLite schema alternatives for bulk speed, built side by side and measured
 * against the import's write path and the API's reads.
 *
 * Each variant is a fresh file migrated to the latest schema and then changed (rebuilt through
 * src/db/migrations/sqlite-rebuild.ts, or an index dropped). The import figure is Roster's own
 * batch writer (SqliteUserBatchWriter, the import's write half) writing the same pre-made users
 * (bench/scale-data.ts) in 20,000-row transactions, with per-user events and without (summary
 * mode): process CPU time and wall time of the writes only. Rounds rotate the variants' order.
 * The read figure is CPU µs per call of SqliteUserStore (the API's store) on each variant's
 * loaded file, the variants interleaved call batch by call batch.
 *
 * `npx tsc -p tsconfig.json && node dist/bench/schema-alternatives.js [--users N] [--rounds R] [--write]`
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { SqliteUserStore } from '../src/users/sqlite-store.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { rebuildSqliteTable, withoutRowid } from './sqlite-rebuild.js';
import { newUuidV7 } from '../src/kit/uuid.js';
import { foldKey, type UserId } from '../src/users/model.js';
import { prefixRange } from '../src/users/search.js';
import { SqliteUserBatchWriter } from '../src/users/sqlite-batch-writer.js';
import { writeResultsSection } from './results-file.js';
import { scaleUser, userId } from './scale-data.js';
import { batchOf } from './scale-load.js';

const { values: flags } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '2' },
    reads: { type: 'string', default: '5' },
    write: { type: 'boolean', default: false },
  },
  strict: true,
});
const USERS = Number(flags.users);
const ROUNDS = Number(flags.rounds);
const READ_ROUNDS = Number(flags.reads);
const SEED = 15;
const ROWS = 20_000;

const noAutoincrement = (createTable: string) => {
  const changed = createTable.replace(/primary key autoincrement/i, 'primary key');
  if (changed === createTable) throw new Error(`events has no AUTOINCREMENT: ${createTable}`);
  return changed;
};

interface Variant {
  readonly name: string;
  change(db: Kysely<unknown>): Promise<void>;
}

const VARIANTS: Variant[] = [
  { name: 'current schema', change: () => Promise.resolve() },
  { name: 'users WITHOUT ROWID', change: (db) => rebuildSqliteTable(db, 'users', withoutRowid) },
  {
    name: 'users without users_name_key_id (search by name impossible)',
    change: (db) => sql`drop index users_name_key_id`.execute(db).then(() => undefined),
  },
  { name: 'events without AUTOINCREMENT', change: (db) => rebuildSqliteTable(db, 'events', noAutoincrement) },
  {
    name: 'events without events_occurred_at',
    change: (db) => sql`drop index events_occurred_at`.execute(db).then(() => undefined),
  },
  {
    name: 'users WITHOUT ROWID + events without AUTOINCREMENT and events_occurred_at',
    change: async (db) => {
      await rebuildSqliteTable(db, 'users', withoutRowid);
      await rebuildSqliteTable(db, 'events', noAutoincrement);
      await sql`drop index events_occurred_at`.execute(db);
    },
  },
];

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function build(file: string, variant: Variant): Promise<Database> {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const database = openDatabase(file);
  await migrateToLatest(database.db, 'sqlite');
  await variant.change(database.db as unknown as Kysely<unknown>);
  return database;
}

/** Writes every user through the import's batch writer; CPU and wall time of the writes alone. */
async function importInto(database: Database, events: boolean): Promise<{ cpuS: number; wallS: number }> {
  if (database.driver.kind !== 'sqlite') throw new Error('SQLite only');
  const connection = database.driver.connection;
  const run = { id: newUuidV7(), mode: 'create' as const, events, context: { actor: 'system:bench' } };
  const writer = new SqliteUserBatchWriter({ db: database.db, connection, run, newId: newUuidV7 });
  const signal = new AbortController().signal;
  let cpu = 0;
  let wall = 0;
  try {
    for (let from = 0; from < USERS; from += ROWS) {
      const batch = batchOf(SEED, from, Math.min(USERS, from + ROWS));
      const cpuStart = cpuNow();
      const wallStart = performance.now();
      const result = await writer.write(batch, () => undefined, signal);
      cpu += cpuNow() - cpuStart;
      wall += performance.now() - wallStart;
      if (result.created !== batch.length) throw new Error(`only ${result.created} of ${batch.length} written`);
    }
  } finally {
    await writer.close();
  }
  return { cpuS: cpu / 1e6, wallS: wall / 1000 };
}

/** The file after its WAL was checkpointed and truncated. */
const sizeMb = (file: string) => statSync(file).size / 1e6;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-schema-alt-'));
  const lines: string[] = [];
  const startLoad = load();
  try {
    const imports = new Map<string, { cpu: number[]; wall: number[] }>();
    const files = new Map<string, string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const events of [true, false]) {
        for (let k = 0; k < VARIANTS.length; k++) {
          const variant = VARIANTS[(k + round) % VARIANTS.length]!;
          const file = join(dir, `v${VARIANTS.indexOf(variant)}-${events ? 'events' : 'summary'}.db`);
          const database = await build(file, variant);
          try {
            const r = await importInto(database, events);
            const key = `${variant.name}|${events}`;
            const entry = imports.get(key) ?? { cpu: [], wall: [] };
            entry.cpu.push(r.cpuS);
            entry.wall.push(r.wallS);
            imports.set(key, entry);
            console.log(
              `round ${round + 1} ${events ? 'per-user events' : 'summary'} ${variant.name}: CPU ${r.cpuS.toFixed(1)} s, wall ${r.wallS.toFixed(1)} s (load ${load()})`,
            );
            if (database.driver.kind === 'sqlite') database.driver.connection.pragma('wal_checkpoint(TRUNCATE)');
          } finally {
            await database.close();
          }
          if (events) files.set(variant.name, file);
          else rmSync(file, { force: true });
        }
      }
    }
    lines.push(
      `${USERS.toLocaleString('en')} users (bench/scale-data.ts) written by SqliteUserBatchWriter in ${ROWS.toLocaleString('en')}-row transactions, ` +
        `${ROUNDS} rounds rotating the variants' order; medians. Load average at start ${startLoad}, end of writes ${load()}.`,
      '',
      '| variant | per-user events: CPU s | wall s | rows/s (CPU) | summary: CPU s | wall s | rows/s (CPU) | file MB (per-user) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const variant of VARIANTS) {
      const a = imports.get(`${variant.name}|true`)!;
      const b = imports.get(`${variant.name}|false`)!;
      const file = files.get(variant.name)!;
      lines.push(
        `| ${variant.name} | ${median(a.cpu).toFixed(1)} | ${median(a.wall).toFixed(1)} | ${Math.round(USERS / median(a.cpu)).toLocaleString('en')} | ${median(b.cpu).toFixed(1)} | ${median(b.wall).toFixed(1)} | ${Math.round(USERS / median(b.cpu)).toLocaleString('en')} | ${sizeMb(file).toFixed(0)} |`,
      );
    }

    // Reads through the API's store on each loaded (per-user events) file, interleaved.
    const stores = VARIANTS.map((variant) => {
      const database = openDatabase(files.get(variant.name)!);
      if (database.driver.kind !== 'sqlite') throw new Error('SQLite only');
      return {
        variant,
        database,
        store: new SqliteUserStore({ db: database.db, connection: database.driver.connection, observe: database.observeStatement }),
      };
    });
    const random = () => Math.floor(Math.random() * USERS);
    const deep = userId(SEED, Math.floor(USERS * 0.9)) as UserId;
    const common = prefixRange(foldKey('jo'));
    type Store = (typeof stores)[number]['store'];
    const reads: [string, number, (store: Store) => Promise<unknown>][] = [
      ['get by id', 5000, (s) => s.get(userId(SEED, random()) as UserId)],
      ['?email=', 5000, (s) => s.list({ limit: 51, emailKey: foldKey(scaleUser(SEED, random()).email) })],
      ['first page (50)', 1000, (s) => s.list({ limit: 51 })],
      ['page at 90% (50)', 1000, (s) => s.list({ limit: 51, afterId: deep })],
      [
        '?q=jo, both scans (50)',
        1000,
        (s) =>
          Promise.all(
            (['email', 'name'] as const).map((key) =>
              s.search({ key, after: { key: common.from, id: '' }, below: common.below, limit: 51 }),
            ),
          ),
      ],
    ];
    const results = new Map<string, number[]>();
    for (const { store } of stores) for (const [, , call] of reads) await call(store); // first calls: preparation, JIT
    for (let round = 0; round < READ_ROUNDS; round++) {
      for (const [label, calls, call] of reads) {
        for (let k = 0; k < stores.length; k++) {
          const { variant, store } = stores[(k + round) % stores.length]!;
          if (label.startsWith('?q=') && variant.name.includes('users_name_key_id')) continue;
          const started = cpuNow();
          for (let i = 0; i < calls; i++) await call(store);
          const key = `${variant.name}|${label}`;
          results.set(key, [...(results.get(key) ?? []), (cpuNow() - started) / calls]);
        }
      }
    }
    for (const { database } of stores) await database.close();
    lines.push(
      '',
      `Reads: SqliteUserStore on each per-user file, CPU µs per call, median of ${READ_ROUNDS} interleaved rounds (load average at end ${load()}).`,
      '',
      `| variant | ${reads.map(([label]) => label).join(' | ')} |`,
      `| --- | ${reads.map(() => '---:').join(' | ')} |`,
      ...VARIANTS.map(
        (variant) =>
          `| ${variant.name} | ${reads.map(([label]) => (results.has(`${variant.name}|${label}`) ? median(results.get(`${variant.name}|${label}`)!).toFixed(1) : '—')).join(' | ')} |`,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const markdown = `## SQLite schema alternatives (\`node dist/bench/schema-alternatives.js\`)\n\n${lines.join('\n')}`;
  console.log(markdown);
  if (flags.write) await writeResultsSection('bench/RESULTS.md', 'schema-alternatives', markdown);
}

await main();
