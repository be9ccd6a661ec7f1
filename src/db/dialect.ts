import { UnavailableError } from '../kit/errors.js';
import { DeadlineExceededError } from '../kit/deadline.js';

/**
 * Everything SQLite and PostgreSQL disagree on, named in one place. Stores speak Kysely for
 * the rest and ask this object whenever a value crosses into or out of a column.
 */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** PostgreSQL needs SELECT … FOR UPDATE for read-modify-write; SQLite has one writer and no such clause. */
  readonly lockRowsForUpdate: boolean;
  /** A Date as the column expects it. */
  toTime(date: Date): Date | string;
  fromTime(value: unknown): Date;
  /** A JSON value as the column expects it (always text on the wire: pg would turn arrays into SQL arrays). */
  toJson(value: unknown): string;
  fromJson(value: unknown): unknown;
  /** The table whose unique constraint this driver error violated, if it is such an error. */
  uniqueViolationTable(error: unknown): string | undefined;
  /** True when the error says the database is unreachable, locked or shutting down: worth retrying later. */
  isUnavailable(error: unknown): boolean;
  /** True when the database cancelled the statement because it ran past its deadline. */
  isTimeout(error: unknown): boolean;
}

// Connection-level failures seen from node's net layer and from pg's pool.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  lockRowsForUpdate: false,
  toTime: (date) => date.toISOString(),
  fromTime: (value) => new Date(value as string),
  toJson: (value) => JSON.stringify(value),
  fromJson: (value) => JSON.parse(value as string) as unknown,
  uniqueViolationTable(error) {
    // better-sqlite3: code SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, message "UNIQUE constraint failed: table.column, ..."
    if (!isErrorWithCode(error) || !/^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(error.code)) return undefined;
    return /constraint failed: ([A-Za-z_]+)\./.exec(error.message)?.[1];
  },
  isUnavailable(error) {
    if (isClosedHandle(error) || (error instanceof TypeError && /database connection is not open/.test(error.message))) return true;
    return isErrorWithCode(error) && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/.test(error.code);
  },
  // SQLite runs in-process and synchronously: nothing cancels a statement from outside.
  isTimeout: () => false,
};

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  lockRowsForUpdate: true,
  toTime: (date) => date,
  fromTime: (value) => (value instanceof Date ? value : new Date(value as string)),
  toJson: (value) => JSON.stringify(value),
  fromJson: (value) => value,
  uniqueViolationTable(error) {
    if (!isErrorWithCode(error) || error.code !== '23505') return undefined;
    return (error as { table?: string }).table;
  },
  isUnavailable(error) {
    if (
      error instanceof Error &&
      /timeout exceeded when trying to connect|Connection terminated|pool is (ended|closed)|Cannot use a pool after calling end|Client has encountered a connection error/i.test(
        error.message,
      )
    ) {
      return true;
    }
    if (!isErrorWithCode(error)) return false;
    // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P (operator intervention).
    return NETWORK_CODES.has(error.code) || /^(08|53|57P)/.test(error.code);
  },
  // 57014 query_canceled: statement_timeout fired (or an operator cancelled the query).
  isTimeout: (error) => isErrorWithCode(error) && error.code === '57014',
};

/** Kysely after `destroy()`: a request that outlived shutdown. */
function isClosedHandle(error: unknown): boolean {
  return error instanceof Error && error.message === 'driver has already been destroyed';
}

function isErrorWithCode(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** Runs `work`, turning the dialect's outage errors into UnavailableError (a 503, retry later). */
export async function failOnOutage<T>(dialect: SqlDialect, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (dialect.isUnavailable(error)) throw new UnavailableError('The database is unavailable; retry later.', { cause: error });
    if (dialect.isTimeout(error)) throw new DeadlineExceededError('The database statement ran past its deadline.', { cause: error });
    throw error;
  }
}
