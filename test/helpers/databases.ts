import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';

/** Where the PostgreSQL tests connect; the machine's trust-auth server by default. */
export const POSTGRES_URL = process.env.ROSTER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly database: Database;
  /** The URL that reaches this same database (for a spawned server). */
  readonly url: string;
  cleanup(): Promise<void>;
}

/** A fresh, migrated SQLite file in its own temporary directory. */
export async function sqliteTestDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-test-'));
  const url = join(dir, 'roster.db');
  const database = openDatabase(url);
  await migrateToLatest(database.db, database.dialect.name);
  return {
    database,
    url,
    async cleanup() {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let postgresAnswer: Promise<string | undefined> | undefined;

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. Under CI=true a missing
 * server is an error, never a skip; elsewhere the skip is announced loudly on stderr.
 */
export function postgresUnavailable(): Promise<string | undefined> {
  postgresAnswer ??= (async () => {
    let failure: unknown;
    for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
      failure = await probePostgres();
      if (failure === undefined) return undefined;
    }
    const reason = `PostgreSQL at ${POSTGRES_URL} is not answering (${(failure as Error).message})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`, { cause: failure });
    process.stderr.write(`\n*** SKIPPING PostgreSQL tests: ${reason}. Start it to run them. ***\n\n`);
    return reason;
  })();
  return postgresAnswer;
}

/**
 * A server that is down refuses at once, so the timeout only has to tell a hung server from a
 * slow test process. It is generous and tried twice because a connect timer fires late (and
 * wins over the connection that already succeeded) whenever something holds this process's
 * event loop, which a busy CI machine stretches to seconds.
 */
const PROBE_TIMEOUT_MS = 10_000;
const PROBE_ATTEMPTS = 2;

async function probePostgres(): Promise<unknown> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A fresh, migrated PostgreSQL database of its own, dropped on cleanup. A database per test
 * file rather than a schema: Kysely's migrator finds its bookkeeping tables in *any* schema of
 * the database, so a schema migrated while another test file's schema exists fails with
 * "relation roster_migrations_lock does not exist" (see test/db/migrator.integration.test.ts).
 * Whatever fails half-way is undone, so a failed setup never leaves a connection holding the
 * test process open.
 */
export async function postgresTestDatabase(): Promise<TestDatabase> {
  const name = `roster_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  const drop = () => admin.query(`drop database if exists ${name} with (force)`);
  let database: Database | undefined;
  try {
    await admin.query(`create database ${name}`);
    const url = withDatabase(POSTGRES_URL, name);
    database = openDatabase(url, { poolSize: 10 });
    await migrateToLatest(database.db, database.dialect.name);
    const opened = database;
    return {
      database: opened,
      url,
      async cleanup() {
        try {
          await opened.close();
          await drop();
        } finally {
          await admin.end();
        }
      },
    };
  } catch (error) {
    await database?.close().catch(() => undefined);
    await drop().catch(() => undefined);
    await admin.end().catch(() => undefined);
    throw error;
  }
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Both dialects, for suites that must hold on each: [name, factory, skip reason]. */
export async function dialects(): Promise<[string, () => Promise<TestDatabase>, string | undefined][]> {
  return [
    ['sqlite', sqliteTestDatabase, undefined],
    ['postgres', postgresTestDatabase, await postgresUnavailable()],
  ];
}
