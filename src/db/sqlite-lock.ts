import { setTimeout as sleep } from 'node:timers/promises';
import type SQLite from 'better-sqlite3';
import type { Cancellation } from '../kit/deadline.js';

/** The first pause before the write lock is tried again, and the longest: a gap between another process's transactions is short. */
const LOCK_RETRY_FIRST_MS = 1;
const LOCK_RETRY_MAX_MS = 8;

/**
 * Waits for SQLite's write lock without blocking the event loop. better-sqlite3 is synchronous,
 * so a write waiting in SQLite's busy handler for another process's lock (a `roster import`
 * beside the server) held every request of the instance, reads included, for as long as it
 * waited (bench/RESULTS.md, "SQLite: a write waiting for another process's lock").
 *
 * Instead, the statement that takes the lock (BEGIN IMMEDIATE, or an autocommit write) runs with
 * the busy handler off, so it fails at once with SQLITE_BUSY when the lock is taken; it never
 * began, so it is tried again after a short asynchronous pause, until the connection's busy
 * timeout has passed. Then its last SQLITE_BUSY is thrown, as SQLite's own wait would have done.
 * Reads are left alone: in WAL mode they take no lock that a writer holds.
 */
export class SqliteLockWait {
  readonly #connection: SQLite.Database;
  /** The connection's busy timeout: how long a write may wait for another process's lock in all. */
  readonly #busyTimeoutMs: number;
  readonly #restoreBusyWait: string;

  /**
   * The one of `connection`, shared by everything that writes through it (the Kysely dialect, the
   * users and groups stores, the import's batch writer). Its busy timeout is read once, by the
   * first caller: db/database.ts sets it when it opens the connection, and nothing changes it later.
   */
  static of(connection: SQLite.Database): SqliteLockWait {
    let locks = byConnection.get(connection);
    if (locks === undefined) {
      locks = new SqliteLockWait(connection);
      byConnection.set(connection, locks);
    }
    return locks;
  }

  private constructor(connection: SQLite.Database) {
    this.#connection = connection;
    this.#busyTimeoutMs = Number(connection.pragma('busy_timeout', { simple: true }));
    this.#restoreBusyWait = `PRAGMA busy_timeout = ${Math.trunc(this.#busyTimeoutMs)}`;
  }

  /**
   * Runs `take` with the busy handler off. Whatever `take` runs synchronously (for an async
   * function: up to its first await) fails with SQLITE_BUSY rather than sleeping on the thread.
   */
  withoutWaiting<T>(take: () => T): T {
    // exec(), not a prepared statement: SQLite applies `PRAGMA busy_timeout = N` when the
    // statement is prepared, so running a prepared one again changes nothing. About 3 µs.
    this.#connection.exec('PRAGMA busy_timeout = 0');
    try {
      return take();
    } finally {
      this.#connection.exec(this.#restoreBusyWait);
    }
  }

  /**
   * Runs `attempt` (which takes the lock with `withoutWaiting`) and, while it fails because
   * another connection holds the lock, again after pauses of 1–8 ms, until the busy timeout has
   * passed or `cancellation` fires. `attempt` must not have changed anything when it fails so.
   */
  async retrying<T>(attempt: () => T | Promise<T>, cancellation?: Cancellation): Promise<T> {
    const giveUpAt = performance.now() + this.#busyTimeoutMs;
    for (let pauseMs = LOCK_RETRY_FIRST_MS; ; pauseMs = Math.min(pauseMs * 2, LOCK_RETRY_MAX_MS)) {
      try {
        return await attempt();
      } catch (error) {
        if (!lockedByAnother(error) || performance.now() + pauseMs > giveUpAt) throw error;
      }
      await sleep(pauseMs);
      cancellation?.throwIfAborted();
    }
  }
}

const byConnection = new WeakMap<SQLite.Database, SqliteLockWait>();

/** SQLite refused a lock because another connection holds it (SQLITE_BUSY and its extended codes), however the error was wrapped. */
export function lockedByAnother(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 8; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
