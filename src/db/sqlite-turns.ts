import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Cancellation } from '../kit/deadline.js';
import type { Schema } from './schema.js';
import { SqliteLockWait } from './sqlite-lock.js';

/**
 * Turns on the one SQLite connection for the stores that step prepared statements synchronously
 * (users, groups) beside Kysely, which shares the connection and holds transactions open across
 * awaits. A statement run while such a transaction is open would run inside it: read its
 * uncommitted rows, commit or roll back with it. So work runs at once only when no transaction
 * is open, and otherwise waits for Kysely's connection lock, which that transaction holds until
 * it ends. Errors leave through the store's own `translate` (its conflicts, else an outage).
 */
export class SqliteTurns {
  readonly #db: Kysely<Schema>;
  readonly #connection: SQLite.Database;
  readonly #translate: (error: unknown) => unknown;
  readonly #locks: SqliteLockWait;

  constructor(db: Kysely<Schema>, connection: SQLite.Database, translate: (error: unknown) => unknown) {
    this.#db = db;
    this.#connection = connection;
    this.#translate = translate;
    this.#locks = SqliteLockWait.of(connection);
  }

  /** Runs synchronous `work` (reads, or a transaction) when no other transaction is open on the connection. */
  async run<T>(work: () => T, cancellation?: Cancellation): Promise<T> {
    try {
      // Synchronous work cannot interleave with anything: with no transaction open, run it now.
      if (!this.#connection.inTransaction) return work();
      return await this.#db.connection().execute(async () => {
        // The lock may have been awaited: a request that gave up meanwhile must not start.
        cancellation?.throwIfAborted();
        if (this.#connection.inTransaction) throw new OpenTransactionError();
        return work();
      });
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /**
   * Runs a write without letting SQLite's busy handler sleep on the event loop (db/sqlite-lock.ts):
   * while another process holds the write lock, the whole write is tried again after short
   * asynchronous pauses (it never began: BEGIN IMMEDIATE is what failed), each time in a turn of
   * its own, up to the busy timeout (then the translated SQLITE_BUSY: an outage, 503) or the
   * cancellation.
   */
  write<T>(write: () => T, cancellation?: Cancellation): Promise<T> {
    return this.#locks.retrying(() => this.run(() => this.#locks.withoutWaiting(write), cancellation), cancellation);
  }
}

/**
 * A transaction was open on the SQLite connection while a store held Kysely's lock: someone
 * began one outside Kysely and left it open. Running inside it would tie the store's change to theirs.
 */
export class OpenTransactionError extends Error {
  override readonly name = 'OpenTransactionError';
  constructor() {
    super('A transaction is open on the SQLite connection outside Kysely; the store will not run inside it.');
  }
}
