import type SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  SqliteQueryCompiler,
  type LimitNode,
  type QueryCompiler,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  type TransactionSettings,
} from 'kysely';
import { SqliteLockWait } from './sqlite-lock.js';

/**
 * Kysely's SQLite dialect on one better-sqlite3 connection, changed where the stock one stalls or
 * misreports (each override says why). Kysely's own driver does the rest: the lock that gives
 * the one connection to one caller at a time, savepoints, streaming.
 */
export class RosterSqliteDialect extends SqliteDialect {
  readonly #connection: SQLite.Database;
  readonly #statements: StatementCache;

  constructor(connection: SQLite.Database) {
    const statements = reusingStatements(connection);
    super({ database: statements });
    this.#connection = connection;
    this.#statements = statements;
  }

  override createDriver(): Driver {
    return new RosterSqliteDriver(this.#connection, this.#statements);
  }

  override createQueryCompiler(): QueryCompiler {
    return new RosterSqliteQueryCompiler();
  }
}

/**
 * Writes LIMIT as `limit +?` (db/sqlite-steps.ts SQLITE_LIMIT says why: with `limit ?` SQLite
 * prepares the statement anew on every run, and the statement cache below would save nothing
 * for every query with a limit). `+` before any expression is that expression's value.
 */
class RosterSqliteQueryCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    this.append('limit +');
    this.visitNode(node.limit);
  }
}

class RosterSqliteDriver extends SqliteDriver {
  readonly #connection: SQLite.Database;
  readonly #statements: StatementCache;
  readonly #locks: SqliteLockWait;
  #waiting: DatabaseConnection | undefined;

  constructor(connection: SQLite.Database, statements: StatementCache) {
    super({ database: statements });
    this.#connection = connection;
    this.#statements = statements;
    this.#locks = SqliteLockWait.of(connection);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    return (this.#waiting ??= new LockWaitingConnection(connection, this.#connection, this.#statements, this.#locks));
  }

  /**
   * BEGIN IMMEDIATE, its wait for the write lock made asynchronous (db/sqlite-lock.ts). The stock
   * BEGIN is deferred: the lock was taken by the transaction's first write, inside SQLite's busy
   * handler, which sleeps on the event loop; and a transaction that read before it wrote failed
   * with SQLITE_BUSY_SNAPSHOT whenever another process committed in between. A read-only
   * transaction takes no lock, so it stays deferred.
   */
  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    const begin = settings?.accessMode === 'read only' ? BEGIN_DEFERRED : BEGIN_IMMEDIATE;
    await this.#locks.retrying(() => this.#locks.withoutWaiting(() => connection.executeQuery(begin)));
  }

  /**
   * SQLite rolls a whole transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR,
   * SQLITE_BUSY, SQLITE_NOMEM). Kysely then sends ROLLBACK anyway, which fails with "cannot
   * rollback - no transaction is active" and replaces the error that said what happened: a full
   * disk became a 500 instead of a 503. Only a transaction still open is rolled back.
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#connection.inTransaction) await super.rollbackTransaction(connection);
  }
}

const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const BEGIN_DEFERRED = CompiledQuery.raw('begin');

/**
 * Kysely's connection, except that a write run outside a transaction (it takes the write lock
 * itself, e.g. an API key's last-used time) waits for the lock asynchronously. Reads, and
 * statements inside a transaction (which holds the lock since its BEGIN IMMEDIATE), run as they are.
 */
class LockWaitingConnection implements DatabaseConnection {
  readonly #inner: DatabaseConnection;
  readonly #connection: SQLite.Database;
  readonly #statements: StatementCache;
  readonly #locks: SqliteLockWait;

  constructor(inner: DatabaseConnection, connection: SQLite.Database, statements: StatementCache, locks: SqliteLockWait) {
    this.#inner = inner;
    this.#connection = connection;
    this.#statements = statements;
    this.#locks = locks;
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // prepare() is the statement cache's (a map lookup): the driver prepares the same statement next.
    if (this.#connection.inTransaction || this.#statements.prepare(query.sql).readonly) return this.#inner.executeQuery(query);
    return this.#locks.retrying(() => this.#locks.withoutWaiting(() => this.#inner.executeQuery<R>(query)));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.#inner.streamQuery<R>(query, chunkSize);
  }
}

/** Kysely's view of the connection, as the cache below serves it. */
interface StatementCache extends SqliteDatabase {
  prepare(sql: string): SQLite.Statement;
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver prepares every query anew, and preparing (parsing and planning SQL)
 * cost more than running a primary-key lookup in the GET-by-id profile. Queries built by the
 * stores have a small, fixed set of SQL texts, so a bounded cache of prepared statements keyed
 * by SQL text removes that cost. Safe because Kysely runs one query at a time per connection.
 */
function reusingStatements(connection: SQLite.Database): StatementCache {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = connection.prepare(text);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}
