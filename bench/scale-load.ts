/**
 * Loads the scale bench's users (scale-data.ts) through Roster's own batch writers, the import's
 * write half (SqliteUserBatchWriter, PostgresUserBatchWriter: the same rows, keys and conflict
 * handling as `roster import`, without reading and parsing a file), in create mode with no
 * per-user events, as `roster import --events summary` writes users. A loaded database is
 * marked (a file beside the SQLite database, a comment on the PostgreSQL database) with the seed
 * and the count, so the next run at the same size reuses it.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import type { BatchUser, UserBatchRun } from '../src/users/batch-store.js';
import { PROVISIONING_DEFAULTS, type Attributes, type Email, type NewUser, type UserId, type UserName } from '../src/users/model.js';
import { PostgresUserBatchWriter } from '../src/users/postgres-batch-writer.js';
import { SqliteUserBatchWriter } from '../src/users/sqlite-batch-writer.js';
import { newUuidV7 } from '../src/kit/uuid.js';
import { scaleUser } from './scale-data.js';
import { withDatabase } from './seed.js';

const SQLITE_ROWS = 20_000;
const POSTGRES_ROWS = 10_000;

export interface Loaded {
  /** Seconds the load took; undefined when an earlier load was reused. */
  readonly seconds: number | undefined;
}

const marker = (seed: number, users: number) => `roster-scale seed=${seed} users=${users}`;

/** Users `from` to `to` (exclusive) as the batch writers take them. */
export function batchOf(seed: number, from: number, to: number): BatchUser[] {
  const batch: BatchUser[] = [];
  for (let i = from; i < to; i++) {
    const u = scaleUser(seed, i);
    // Typed as the writers take it, with no cast over the whole object: a field added to NewUser
    // (the provisioning ones were) must be given here, or the load writes "undefined" for it.
    const user: NewUser & { id: UserId } = {
      ...PROVISIONING_DEFAULTS,
      id: u.id as UserId,
      email: u.email as Email,
      name: u.name as UserName,
      attributes: u.attributes as Attributes,
    };
    batch.push({ line: i + 1, user, maybeDuplicate: false });
  }
  return batch;
}

const run = (): UserBatchRun => ({ id: newUuidV7(), mode: 'create', events: false, context: { actor: 'system:bench-scale' } });

async function fill(database: Database, seed: number, users: number, progress: (done: number) => void): Promise<void> {
  const driver = database.driver;
  const signal = new AbortController().signal;
  if (driver.kind === 'sqlite') {
    const writer = new SqliteUserBatchWriter({ db: database.db, connection: driver.connection, run: run(), newId: newUuidV7 });
    try {
      for (let from = 0; from < users; from += SQLITE_ROWS) {
        const result = await writer.write(batchOf(seed, from, Math.min(users, from + SQLITE_ROWS)), () => undefined, signal);
        if (result.findings.length > 0) throw new Error(`the load refused rows: ${JSON.stringify(result.findings.slice(0, 3))}`);
        progress(from + SQLITE_ROWS);
      }
    } finally {
      await writer.close();
    }
    driver.connection.pragma('wal_checkpoint(TRUNCATE)');
    return;
  }
  const writer = new PostgresUserBatchWriter({ pool: driver.pool, run: run(), newId: newUuidV7 });
  try {
    // The server writes one batch while this process makes the next (as the import overlaps reading).
    let next = batchOf(seed, 0, Math.min(users, POSTGRES_ROWS));
    for (let from = 0; from < users; from += POSTGRES_ROWS) {
      const writing = writer.write(next, () => Promise.resolve(), signal);
      const after = from + POSTGRES_ROWS;
      next = after < users ? batchOf(seed, after, Math.min(users, after + POSTGRES_ROWS)) : [];
      const result = await writing;
      if (result.findings.length > 0) throw new Error(`the load refused rows: ${JSON.stringify(result.findings.slice(0, 3))}`);
      progress(after);
    }
  } finally {
    await writer.close();
  }
  await driver.pool.query('vacuum analyze users');
}

function reporter(label: string, users: number): (done: number) => void {
  const started = performance.now();
  let shown = 0;
  return (done) => {
    if (done - shown < users / 10 && done < users) return;
    shown = done;
    const s = (performance.now() - started) / 1000;
    console.log(`${label}: ${Math.min(done, users).toLocaleString('en')} users in ${s.toFixed(1)} s`);
  };
}

/** The SQLite file at `file`, migrated and holding the users; reused when already so. */
export async function loadSqlite(file: string, seed: number, users: number, reload: boolean): Promise<Loaded> {
  const mark = `${file}.loaded`;
  const loaded = existsSync(mark) && existsSync(file) && readFileSync(mark, 'utf8').trim() === marker(seed, users);
  if (loaded && !reload) {
    await migrated(file);
    return { seconds: undefined };
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`, mark]) rmSync(f, { force: true });
  const started = performance.now();
  const database = openDatabase(file);
  try {
    await migrateToLatest(database.db, 'sqlite');
    await fill(database, seed, users, reporter('SQLite load', users));
  } finally {
    await database.close();
  }
  writeFileSync(mark, `${marker(seed, users)}\n`);
  return { seconds: (performance.now() - started) / 1000 };
}

async function migrated(url: string): Promise<void> {
  const database = openDatabase(url);
  try {
    await migrateToLatest(database.db, database.dialect.name);
  } finally {
    await database.close();
  }
}

/** The PostgreSQL database `name` (created on the server of `adminUrl`), migrated and holding the users. */
export async function loadPostgres(adminUrl: string, name: string, seed: number, users: number, reload: boolean): Promise<Loaded> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a database name the bench makes: ${name}`);
  const url = withDatabase(adminUrl, name);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ comment: string | null }>(
      `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
      [name],
    );
    if (rows.length === 1 && rows[0]!.comment === marker(seed, users) && !reload) {
      await migrated(url);
      return { seconds: undefined };
    }
    const started = performance.now();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
    const database = openDatabase(url);
    try {
      await migrateToLatest(database.db, 'postgres');
      await fill(database, seed, users, reporter('PostgreSQL load', users));
    } finally {
      await database.close();
    }
    await admin.query(`comment on database ${name} is '${marker(seed, users)}'`);
    return { seconds: (performance.now() - started) / 1000 };
  } finally {
    await admin.end();
  }
}
