import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { withDeadline } from '../kit/deadline.js';
import { postgresDialect, sqliteDialect, type SqlDialect } from './dialect.js';
import type { Schema } from './schema.js';
import { RosterSqliteDialect } from './sqlite-dialect.js';
import { observeQueries, observeStatements, type StatementObserver } from './instrumentation.js';
import type { DatabaseMetrics } from './metrics.js';

/** An open database: the Kysely handle plus what differs by dialect. */
export interface Database {
  readonly db: Kysely<Schema>;
  readonly dialect: SqlDialect;
  /** Where it lives, with any password removed: safe to log. */
  readonly description: string;
  /**
   * The driver underneath, for bulk paths Kysely cannot express or would slow down (COPY,
   * prepared statements stepped in one synchronous transaction). On SQLite, use it only inside
   * `db.connection().execute(...)`, which holds Kysely's lock on the one connection, so no other
   * query (or open transaction) can interleave with the raw statements.
   */
  readonly driver:
    { readonly kind: 'sqlite'; readonly connection: SQLite.Database } | { readonly kind: 'postgres'; readonly pool: pg.Pool };
  /** Feeds the query metric and spans for statements run on `driver` directly (Kysely's queries are observed already). */
  readonly observeStatement: StatementObserver;
  /** Resolves when a trivial query succeeds within `timeoutMs`. */
  ping(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  readonly poolSize?: number;
  readonly sqliteBusyTimeoutMs?: number;
  /** Called with errors raised by idle pooled connections, which would otherwise crash the process. */
  readonly onIdleError?: (error: Error) => void;
  /** Query durations go here, and queries become spans when a trace is recording. */
  readonly metrics?: DatabaseMetrics;
  /**
   * PostgreSQL cancels any statement running longer than this (server-side `statement_timeout`),
   * so a query never outlives the request deadline that started it. Default: none.
   */
  readonly statementTimeoutMs?: number;
  /**
   * Refuse to create a SQLite file that does not exist (DatabaseNotFoundError) rather than start
   * an empty database: a one-off command run from the wrong directory would otherwise look at a
   * new, empty directory and report nothing wrong.
   */
  readonly mustExist?: boolean;
  /** Hears what opening the database repaired or could not repair, worth an operator's attention (SQLite statistics). */
  readonly warn?: (fields: Record<string, unknown>, message: string) => void;
}

/** The SQLite file to open does not exist, and the caller may not create it. */
export class DatabaseNotFoundError extends Error {
  override readonly name = 'DatabaseNotFoundError';
  constructor(
    readonly file: string,
    options?: ErrorOptions,
  ) {
    super(`no database at ${file}`, options);
  }
}

export type DatabaseTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH`, `sqlite://PATH`, a path or `:memory:` → SQLite. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  return { kind: 'sqlite', file: file === ':memory:' ? file : resolve(file) };
}

// Each driver is loaded when a database of its kind is opened, not at import: a server on SQLite
// never holds pg in memory, one on PostgreSQL never loads the SQLite addon. Both are CommonJS, so
// require() keeps openDatabase() synchronous.
const require = createRequire(import.meta.url);
const loadSqlite = () => require('better-sqlite3') as typeof SQLite;
const loadPg = () => require('pg') as typeof pg;

/** Where `url` points, safe to print: the SQLite file's absolute path, or the PostgreSQL URL without its password. */
export function describeDatabaseUrl(url: string): string {
  const target = parseDatabaseUrl(url);
  if (target.kind === 'sqlite') return `sqlite:${target.file}`;
  try {
    const safe = new URL(target.url);
    safe.password = '';
    return safe.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export function openDatabase(url: string, options: DatabaseOptions = {}): Database {
  const target = parseDatabaseUrl(url);
  return target.kind === 'postgres' ? openPostgres(target.url, options) : openSqlite(target.file, options);
}

function openSqlite(file: string, options: DatabaseOptions): Database {
  const mustExist = options.mustExist === true && file !== ':memory:';
  if (mustExist && !existsSync(file)) throw new DatabaseNotFoundError(file);
  if (file !== ':memory:' && !mustExist) mkdirSync(dirname(file), { recursive: true });
  const SQLiteDatabase = loadSqlite();
  // fileMustExist: a file removed since the check above is refused too, not created.
  const connection = new SQLiteDatabase(file, { fileMustExist: mustExist });
  connection.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives process crashes; only an OS crash or power loss can drop the last commits.
  connection.pragma('synchronous = NORMAL');
  connection.pragma(`busy_timeout = ${Math.trunc(options.sqliteBusyTimeoutMs ?? 5000)}`);
  connection.pragma('foreign_keys = ON');
  dropSampleStatistics(connection, options.warn);
  const db = new Kysely<Schema>({
    dialect: new RosterSqliteDialect(connection),
    log: observeQueries('sqlite', options.metrics),
  });
  return {
    db,
    dialect: sqliteDialect,
    description: describeDatabaseUrl(file),
    driver: { kind: 'sqlite', connection },
    observeStatement: observeStatements('sqlite', options.metrics),
    async ping(timeoutMs, signal) {
      await withDeadline(sql`select 1`.execute(db), timeoutMs, 'database ping', signal);
    },
    close: () => db.destroy(),
  };
}

/**
 * better-sqlite3's SQLite is built with STAT4. Once `ANALYZE` (or `PRAGMA optimize`) has written
 * `sqlite_stat4`, every statement whose plan consults its samples (pages, searches, any range
 * with a bound value) is prepared anew on every run: a search cost 23 µs instead of 2 on a
 * 1M-user file (bench/RESULTS.md, "SQLite re-prepared every statement with a bound LIMIT").
 * Roster's queries are index searches that need no statistics, so the samples go at every open;
 * `sqlite_stat1` stays, it does no harm. A failure (the file locked past the busy timeout, a
 * read-only file) leaves the samples and a warning, never a refusal to start.
 */
function dropSampleStatistics(connection: SQLite.Database, warn: DatabaseOptions['warn']): void {
  const analyzed = connection.prepare("select 1 from sqlite_schema where type = 'table' and name = 'sqlite_stat4'").get();
  if (analyzed === undefined) return;
  try {
    connection.exec('drop table sqlite_stat4');
    warn?.({}, 'dropped sqlite_stat4 (ANALYZE samples make statements re-prepare on every run; see docs/operations.md)');
  } catch (error) {
    warn?.({ err: error }, 'could not drop sqlite_stat4: statements with a bound range re-prepare on every run until it is dropped');
  }
}

function openPostgres(url: string, options: DatabaseOptions): Database {
  const { Pool } = loadPg();
  const pool = new Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'roster',
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
  });
  pool.on('error', (error) => options.onIdleError?.(error));
  // The pool listens for 'error' only on idle clients. A checked-out client whose connection
  // dies (a failover, a restart, pg_terminate_backend, a pooler recycling it) emits 'error' as
  // well, and with no listener that is an uncaughtException (node-postgres #1707). The query in
  // progress, or the next one on that client ("not queryable"), already fails the work with it,
  // and the pool discards a client that is no longer queryable when it is released, so the
  // listener only has to exist.
  pool.on('connect', (client) => client.on('error', ignoreCheckedOutError));
  options.metrics?.watchPool(() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }), log: observeQueries('postgresql', options.metrics) });
  return {
    db,
    dialect: postgresDialect,
    description: describeDatabaseUrl(url),
    driver: { kind: 'postgres', pool },
    observeStatement: observeStatements('postgresql', options.metrics),
    async ping(timeoutMs, signal) {
      await withDeadline(sql`select 1`.execute(db), timeoutMs, 'database ping', signal);
    },
    close: () => db.destroy(),
  };
}

function ignoreCheckedOutError(): void {}

/**
 * Returns the deployment-wide secret stored under `key`, creating it on first use. Every
 * instance on one database shares it, so a cursor issued by one instance works on another.
 */
export async function sharedSecret(db: Kysely<Schema>, key: string): Promise<Buffer> {
  await db
    .insertInto('roster_meta')
    .values({ key, value: randomBytes(32).toString('base64') })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('roster_meta').select('value').where('key', '=', key).executeTakeFirstOrThrow();
  return Buffer.from(row.value, 'base64');
}
