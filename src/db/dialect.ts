import { createRequire } from 'node:module';
import type pg from 'pg';
import { isoFromPostgresTimestamp, parseIsoTimestamp } from '../kit/iso-time.js';
import type { Cancellation } from '../kit/deadline.js';
import { DatabaseUnavailableError, StatementTimeoutError, outageRule } from './outage.js';

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
  /**
   * A time the driver gave as text, as Date.toISOString() writes it, when it can be had without
   * a Date; otherwise undefined (a Date, or text of another shape: use fromTime()).
   */
  timeText(value: unknown): string | undefined;
  /** A JSON value as the column expects it (always text on the wire: pg would turn arrays into SQL arrays). */
  toJson(value: unknown): string;
  fromJson(value: unknown): unknown;
  /** The table whose unique constraint this driver error violated, if it is such an error. */
  uniqueViolationTable(error: unknown): string | undefined;
  /** True when the error says the database is unreachable, locked, full or shutting down: worth retrying later (db/outage.ts). */
  isUnavailable(error: unknown): boolean;
  /** True when the database cancelled the statement because it ran past its deadline. */
  isTimeout(error: unknown): boolean;
}

/**
 * The last instant sqliteDialect.toTime() converted, and its text: a batch of the import stamps
 * every user and event with the same instant, and toISOString() was 4% of the import's CPU
 * (per-user events, 200k rows, --cpu-prof) when called three times a row.
 */
let lastTime = Number.NaN;
let lastTimeText = '';

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  lockRowsForUpdate: false,
  toTime: (date) => {
    const time = date.getTime();
    // An invalid date (NaN) never equals the last one, so toISOString() still throws for it.
    if (time !== lastTime) {
      lastTimeText = date.toISOString();
      lastTime = time;
    }
    return lastTimeText;
  },
  // Every time column holds toTime()'s text; reading it by hand halves a row's mapping cost.
  fromTime: (value) => (typeof value === 'string' ? parseIsoTimestamp(value) : new Date(value as string)),
  timeText: (value) => (typeof value === 'string' ? value : undefined),
  toJson: (value) => JSON.stringify(value),
  fromJson: (value) => JSON.parse(value as string) as unknown,
  uniqueViolationTable(error) {
    // better-sqlite3: code SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, message "UNIQUE constraint failed: table.column, ..."
    if (!isErrorWithCode(error) || !/^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(error.code)) return undefined;
    return /constraint failed: ([A-Za-z_]+)\./.exec(error.message)?.[1];
  },
  isUnavailable: (error) => outageRule(error, 'sqlite') !== undefined,
  // SQLite runs in-process and synchronously: nothing cancels a statement from outside.
  isTimeout: () => false,
};

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  lockRowsForUpdate: true,
  toTime: (date) => date,
  // A Date from pg's parser, or the text of a statement that asked for text (POSTGRES_TEXT_TYPES).
  fromTime: (value) => {
    if (value instanceof Date) return value;
    const iso = isoFromPostgresTimestamp(value as string);
    return iso === undefined ? parsePostgresTimestamp(value as string) : parseIsoTimestamp(iso);
  },
  timeText: (value) => (typeof value === 'string' ? isoFromPostgresTimestamp(value) : undefined),
  toJson: (value) => JSON.stringify(value),
  fromJson: (value) => (typeof value === 'string' ? JSON.parse(value) : value) as unknown,
  uniqueViolationTable(error) {
    if (!isErrorWithCode(error) || error.code !== '23505') return undefined;
    return (error as { table?: string }).table;
  },
  isUnavailable: (error) => outageRule(error, 'postgres') !== undefined,
  // 57014 query_canceled: statement_timeout fired (or an operator cancelled the query).
  isTimeout: (error) => isErrorWithCode(error) && error.code === '57014',
};

const require = createRequire(import.meta.url);

/** PostgreSQL's own output for a timestamptz (DateStyle ISO), which `new Date()` misreads for years 0–99 and BC. */
const POSTGRES_TIMESTAMP = /^\d+-\d\d-\d\d /;

/** Text isoFromPostgresTimestamp() leaves: PostgreSQL's output by pg's own parser, anything else (ISO text a query built) as before. */
function parsePostgresTimestamp(text: string): Date {
  if (!POSTGRES_TIMESTAMP.test(text)) return new Date(text);
  const { types } = require('pg') as typeof pg;
  const parse = types.getTypeParser(types.builtins.TIMESTAMPTZ) as (value: string) => unknown;
  return parse(text) as Date;
}

/**
 * Per-statement type parsers (pg's `types` query option) for reading rows as SQLite gives them:
 * timestamptz and jsonb as the text PostgreSQL sends, every other type as pg parses it. The
 * stores turn that text into a user themselves (fromTime(), fromJson()) and keep it, so a read
 * answered as it is writes the text to the wire instead of formatting a Date and serializing
 * the parsed JSON again (users/document.ts). Made on first use: only a PostgreSQL store loads pg.
 */
let postgresTextTypes: pg.CustomTypesConfig | undefined;
export function timesAndJsonAsText(): pg.CustomTypesConfig {
  if (postgresTextTypes !== undefined) return postgresTextTypes;
  const { types } = require('pg') as typeof pg;
  const asText = new Set<number>([types.builtins.TIMESTAMPTZ, types.builtins.JSONB]);
  const text = (value: string) => value;
  const parserOf = types.getTypeParser as (oid: number, format: 'text' | 'binary') => (value: string) => unknown;
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    asText.has(oid) && format !== 'binary' ? text : parserOf(oid, format ?? 'text')) as typeof types.getTypeParser;
  postgresTextTypes = { getTypeParser };
  return postgresTextTypes;
}

function isErrorWithCode(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/**
 * Runs `work`, turning the dialect's outage errors into DatabaseUnavailableError (a 503, retry
 * later) and its statement timeouts into StatementTimeoutError (a 504). With `retryLostConnection`, for
 * reads only, `work` runs once more when the connection died under it (a failover leaves the
 * pool's idle connections dead; the retry takes a fresh one); writes are never retried here,
 * because a write may have committed before its answer was lost.
 */
export async function failOnOutage<T>(
  dialect: SqlDialect,
  work: () => Promise<T>,
  options: { retryLostConnection?: boolean; signal?: Cancellation | undefined } = {},
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const rule = outageRule(error, dialect.name);
    if (rule?.lost === true && options.retryLostConnection === true && options.signal?.aborted !== true) {
      return failOnOutage(dialect, work, { signal: options.signal });
    }
    throw outageError(dialect, error);
  }
}

/**
 * What failOnOutage() throws for `error`: DatabaseUnavailableError for an outage,
 * StatementTimeoutError for a statement timeout, else `error` itself. For adapters whose work is
 * synchronous (prepared statements on SQLite) and so catch the driver's error themselves.
 */
export function outageError(dialect: SqlDialect, error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  const rule = outageRule(error, dialect.name);
  if (rule !== undefined) return new DatabaseUnavailableError(rule, { cause: error });
  if (dialect.isTimeout(error))
    return new StatementTimeoutError('The database statement ran past the request deadline; it was cancelled.', { cause: error });
  return error;
}
