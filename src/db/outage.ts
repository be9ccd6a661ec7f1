import { AppError, UnavailableError } from '../kit/errors.js';

/**
 * Which database errors are outages — worth a 503 and a retry later, not a 500 — in one table,
 * one row per kind, each with the words an operator reads in the log and the CLI. Everything
 * else is a bug or a rule of ours and stays what it is.
 *
 * `lost` marks the rows where the connection died under a statement (a restart, a failover, a
 * pooler recycling it): only those may be retried once on a fresh connection, and only for
 * reads, because a write may have committed before the answer was lost.
 */
export interface OutageRule {
  readonly dialect: 'postgres' | 'sqlite' | 'any';
  /** What the row covers, for the tests and the docs. */
  readonly name: string;
  /** A fixed, client-safe description of the cause (no server text): goes into the 503's detail and the log. */
  readonly reason: string;
  readonly lost: boolean;
  matches(error: CodedError): boolean;
}

interface CodedError {
  readonly code: string | undefined;
  readonly message: string;
}

const code = (pattern: RegExp) => (e: CodedError) => e.code !== undefined && pattern.test(e.code);
const message = (pattern: RegExp) => (e: CodedError) => pattern.test(e.message);

export const OUTAGE_RULES: readonly OutageRule[] = [
  // PostgreSQL (SQLSTATE codes, https://www.postgresql.org/docs/current/errcodes-appendix.html)
  {
    dialect: 'postgres',
    name: '08xxx connection exception',
    reason: 'the connection to PostgreSQL failed',
    lost: true,
    matches: code(/^08/),
  },
  {
    dialect: 'postgres',
    name: '57P01 admin_shutdown',
    reason: 'PostgreSQL terminated the connection (restart, failover or an administrator)',
    lost: true,
    matches: code(/^57P01$/),
  },
  {
    dialect: 'postgres',
    name: '57P02 crash_shutdown',
    reason: 'PostgreSQL is recovering from a crash',
    lost: true,
    matches: code(/^57P02$/),
  },
  {
    dialect: 'postgres',
    name: '57P03 cannot_connect_now',
    reason: 'PostgreSQL is starting up or shutting down',
    lost: false,
    matches: code(/^57P03$/),
  },
  {
    dialect: 'postgres',
    name: '53300 too_many_connections',
    reason: 'PostgreSQL has no free connection slots',
    lost: false,
    matches: code(/^53300$/),
  },
  {
    dialect: 'postgres',
    name: '53xxx other insufficient resources (disk full, out of memory)',
    reason: 'PostgreSQL is out of resources (disk or memory)',
    lost: false,
    matches: code(/^53/),
  },
  {
    // 55000 is object_not_in_prerequisite_state for many things; only this message is an outage.
    dialect: 'postgres',
    name: '55000 "not currently accepting connections" (ALLOW_CONNECTIONS false)',
    reason: 'PostgreSQL refused the connection',
    lost: false,
    matches: (e) => e.code === '55000' && /is not currently accepting connections/.test(e.message),
  },
  {
    dialect: 'postgres',
    name: '3D000 invalid_catalog_name (the database was dropped or renamed)',
    reason: 'the database does not exist (dropped or renamed)',
    lost: false,
    matches: code(/^3D000$/),
  },
  {
    dialect: 'postgres',
    name: '57P04/57P05 database dropped, idle session timeout',
    reason: 'PostgreSQL closed the session',
    lost: true,
    matches: code(/^57P0[45]$/),
  },
  {
    dialect: 'postgres',
    name: 'ECONNREFUSED',
    reason: 'PostgreSQL refused the connection (nothing listening)',
    lost: false,
    matches: code(/^ECONNREFUSED$/),
  },
  {
    dialect: 'postgres',
    name: 'ECONNRESET, EPIPE',
    reason: 'the connection to PostgreSQL was reset',
    lost: true,
    matches: code(/^(ECONNRESET|EPIPE)$/),
  },
  {
    dialect: 'postgres',
    name: 'ETIMEDOUT, EHOSTUNREACH, ENOTFOUND, EAI_AGAIN',
    reason: 'PostgreSQL could not be reached',
    lost: false,
    matches: code(/^(ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/),
  },
  {
    // pg's own words: the socket closed under a query, or a later query on that client.
    dialect: 'postgres',
    name: 'pg: "Connection terminated…", "…is not queryable"',
    reason: 'the connection to PostgreSQL was lost',
    lost: true,
    matches: message(/^Connection terminated|Client has encountered a connection error and is not queryable/),
  },
  {
    dialect: 'postgres',
    name: 'pg-pool: "timeout exceeded when trying to connect"',
    reason: 'no PostgreSQL connection could be opened in time',
    lost: false,
    matches: message(/timeout exceeded when trying to connect/i),
  },
  // SQLite (better-sqlite3 error codes, extended codes included: SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT…)
  {
    dialect: 'sqlite',
    name: 'SQLITE_BUSY past the busy timeout, SQLITE_LOCKED',
    reason: 'the SQLite database is locked by another writer',
    lost: false,
    matches: code(/^SQLITE_(BUSY|LOCKED)/),
  },
  { dialect: 'sqlite', name: 'SQLITE_FULL', reason: 'database disk is full', lost: false, matches: code(/^SQLITE_FULL/) },
  {
    dialect: 'sqlite',
    name: 'SQLITE_IOERR',
    reason: 'database disk I/O error (disk full or failing)',
    lost: false,
    matches: code(/^SQLITE_IOERR/),
  },
  {
    dialect: 'sqlite',
    name: 'SQLITE_CANTOPEN',
    reason: 'the SQLite database file cannot be opened',
    lost: false,
    matches: code(/^SQLITE_CANTOPEN/),
  },
  // Either dialect: the handle was closed under the work (a request that outlived shutdown).
  {
    dialect: 'any',
    name: 'closed handle (after shutdown)',
    reason: 'the database connection is closed (shutting down)',
    lost: false,
    matches: message(
      /^driver has already been destroyed$|database connection is not open|pool is (ended|closed)|Cannot use a pool after calling end|Client was closed and is not queryable/,
    ),
  },
];

/** The row of OUTAGE_RULES that `error` (or, for a wrapped error, a cause of it) falls under, if any. */
export function outageRule(error: unknown, dialect: 'postgres' | 'sqlite'): OutageRule | undefined {
  return findOutage(error, dialect)?.rule;
}

/**
 * The operator's words for an outage (the row's reason, then the database's own message), or
 * undefined when `error` is none. For callers that do not know the dialect (the CLI): the two
 * dialects' codes and messages do not overlap.
 */
export function describeOutage(error: unknown): string | undefined {
  const found = findOutage(error, 'postgres') ?? findOutage(error, 'sqlite');
  if (found === undefined) return undefined;
  const words = found.error.message;
  return words === '' || words === found.rule.reason ? found.rule.reason : `${found.rule.reason}: ${words}`;
}

function findOutage(error: unknown, dialect: 'postgres' | 'sqlite'): { rule: OutageRule; error: Error } | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseUnavailableError)
      return findOutage(e.cause, e.rule.dialect === 'sqlite' ? 'sqlite' : 'postgres') ?? { rule: e.rule, error: e };
    const raw = (e as { code?: unknown }).code;
    const coded = { code: typeof raw === 'string' ? raw : undefined, message: e.message };
    const rule = OUTAGE_RULES.find((r) => (r.dialect === dialect || r.dialect === 'any') && r.matches(coded));
    if (rule !== undefined) return { rule, error: e };
  }
  return undefined;
}

/** The database is unavailable for one of the reasons in OUTAGE_RULES: a 503 with Retry-After, exit 75 in the CLI. */
export class DatabaseUnavailableError extends UnavailableError {
  readonly rule: OutageRule;

  constructor(rule: OutageRule, options: { cause: unknown }) {
    super(`The database is unavailable (${rule.reason}); retry later.`, options);
    this.rule = rule;
  }
}

/**
 * PostgreSQL cancelled a statement at `statement_timeout`, which the API pool sets to the request
 * deadline (compose/services.ts): the request ran out of time, the same 504 `deadline-exceeded`
 * as when the deadline fires in the process. Both clocks run the same length, so under load
 * either can fire first; the answer must not depend on which.
 */
export class StatementTimeoutError extends AppError {
  readonly code = 'deadline-exceeded';
}
