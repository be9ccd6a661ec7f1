import type SQLite from 'better-sqlite3';
import type { RawStatement, StatementObserver } from './instrumentation.js';

/** A prepared better-sqlite3 statement with the names its metrics and spans carry. */
export interface PreparedStatement extends RawStatement {
  readonly statement: SQLite.Statement;
}

/**
 * Steps a prepared statement synchronously and reports it to the observer (duration metric,
 * span) whether it succeeds or throws. The stores that step better-sqlite3 directly (users,
 * groups) share it, so every such statement is observed the same way as Kysely's.
 */
function observed<T>(observe: StatementObserver, p: PreparedStatement, step: () => T): T {
  const startedAt = performance.now();
  try {
    const result = step();
    observe(p, startedAt);
    return result;
  } catch (error) {
    observe(p, startedAt, error);
    throw error;
  }
}

export function runObserved(observe: StatementObserver, p: PreparedStatement, params: readonly unknown[]): SQLite.RunResult {
  return observed(observe, p, () => p.statement.run(...params));
}

export function getObserved<T>(observe: StatementObserver, p: PreparedStatement, params: readonly unknown[]): T | undefined {
  return observed(observe, p, () => p.statement.get(...params) as T | undefined);
}

export function allObserved<T>(observe: StatementObserver, p: PreparedStatement, params: readonly unknown[]): T[] {
  return observed(observe, p, () => p.statement.all(...params) as T[]);
}

/**
 * A bound LIMIT as SQLite statements must write it: `limit +?`, never `limit ?`. better-sqlite3's
 * SQLite (3.53, built with SQLITE_ENABLE_STAT4) plans a LIMIT that is a bare bound variable by
 * its value, so binding that variable again expires the statement and every run prepares it anew:
 * a rare-prefix search measured 26.7 µs per statement against 2.5 µs with `+?`, the events read
 * 6.4 against 1.5 µs (bench/RESULTS.md, "SQLite re-prepared every statement with a bound LIMIT").
 * The unary plus makes the same number an expression, which is planned once. OFFSET is not affected.
 */
export const SQLITE_LIMIT = 'limit +?';
