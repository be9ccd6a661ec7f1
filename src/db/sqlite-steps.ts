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
