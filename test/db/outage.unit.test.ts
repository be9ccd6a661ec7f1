// The outage table (src/db/outage.ts), one case per row, and what is deliberately not an outage.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseUnavailableError, describeOutage, OUTAGE_RULES, outageRule, StatementTimeoutError } from '../../src/db/outage.js';
import { failOnOutage, postgresDialect, sqliteDialect } from '../../src/db/dialect.js';
import { UnavailableError } from '../../src/kit/errors.js';
import { toProblem } from '../../src/http/problem.js';

function coded(code: string | undefined, message = 'x'): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** [dialect, error, the row it must fall under] — one case per row of OUTAGE_RULES, in its order. */
const CASES: [dialect: 'postgres' | 'sqlite', error: Error, row: string][] = [
  ['postgres', coded('08006', 'connection failure'), '08xxx connection exception'],
  ['postgres', coded('57P01', 'terminating connection due to administrator command'), '57P01 admin_shutdown'],
  ['postgres', coded('57P02', 'terminating connection because of crash of another server process'), '57P02 crash_shutdown'],
  ['postgres', coded('57P03', 'the database system is starting up'), '57P03 cannot_connect_now'],
  ['postgres', coded('53300', 'sorry, too many clients already'), '53300 too_many_connections'],
  [
    'postgres',
    coded('53100', 'could not extend file: No space left on device'),
    '53xxx other insufficient resources (disk full, out of memory)',
  ],
  [
    'postgres',
    coded('55000', 'database "roster" is not currently accepting connections'),
    '55000 "not currently accepting connections" (ALLOW_CONNECTIONS false)',
  ],
  ['postgres', coded('3D000', 'database "roster" does not exist'), '3D000 invalid_catalog_name (the database was dropped or renamed)'],
  ['postgres', coded('57P05', 'terminating connection due to idle-session timeout'), '57P04/57P05 database dropped, idle session timeout'],
  ['postgres', coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), 'ECONNREFUSED'],
  ['postgres', coded('ECONNRESET', 'read ECONNRESET'), 'ECONNRESET, EPIPE'],
  ['postgres', coded('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:5432'), 'ETIMEDOUT, EHOSTUNREACH, ENOTFOUND, EAI_AGAIN'],
  ['postgres', new Error('Connection terminated unexpectedly'), 'pg: "Connection terminated…", "…is not queryable"'],
  ['postgres', new Error('timeout exceeded when trying to connect'), 'pg-pool: "timeout exceeded when trying to connect"'],
  ['sqlite', coded('SQLITE_BUSY', 'database is locked'), 'SQLITE_BUSY past the busy timeout, SQLITE_LOCKED'],
  ['sqlite', coded('SQLITE_FULL', 'database or disk is full'), 'SQLITE_FULL'],
  ['sqlite', coded('SQLITE_IOERR_WRITE', 'disk I/O error'), 'SQLITE_IOERR'],
  ['sqlite', coded('SQLITE_CANTOPEN', 'unable to open database file'), 'SQLITE_CANTOPEN'],
  ['sqlite', new Error('driver has already been destroyed'), 'closed handle (after shutdown)'],
];

describe('the outage table', () => {
  for (const [dialect, error, row] of CASES) {
    test(`${dialect}: ${(error as { code?: string }).code ?? error.message} → ${row}`, () => {
      const rule = outageRule(error, dialect);
      assert.equal(rule?.name, row);
      const mapped = new DatabaseUnavailableError(rule, { cause: error });
      assert.ok(mapped instanceof UnavailableError, 'a 503 `unavailable`');
      assert.match(mapped.message, /^The database is unavailable \(.+\); retry later\.$/);
    });
  }

  test('every row has its case', () => {
    assert.deepEqual(
      CASES.map(([, , row]) => row),
      OUTAGE_RULES.map((r) => r.name),
    );
  });

  test('more spellings of the same rows', () => {
    assert.equal(outageRule(coded('08001'), 'postgres')?.name, '08xxx connection exception');
    assert.equal(outageRule(new Error('Connection terminated due to connection timeout'), 'postgres')?.lost, true);
    assert.equal(outageRule(new Error('Client has encountered a connection error and is not queryable'), 'postgres')?.lost, true);
    assert.equal(outageRule(coded('SQLITE_BUSY_SNAPSHOT'), 'sqlite')?.name, 'SQLITE_BUSY past the busy timeout, SQLITE_LOCKED');
    assert.equal(outageRule(coded('SQLITE_LOCKED'), 'sqlite')?.name, 'SQLITE_BUSY past the busy timeout, SQLITE_LOCKED');
    assert.equal(outageRule(new TypeError('The database connection is not open'), 'sqlite')?.name, 'closed handle (after shutdown)');
    // A wrapped outage (a migration or an import batch that failed because of one) is still one.
    const wrapped = new Error('migrations could not run', { cause: coded('57P01') });
    assert.equal(outageRule(wrapped, 'postgres')?.name, '57P01 admin_shutdown');
  });

  test('what is not an outage', () => {
    for (const [dialect, error] of [
      ['postgres', coded('55000', 'cannot execute nextval() in a read-only transaction')],
      ['postgres', coded('55000', 'prepared transactions are disabled')],
      ['postgres', coded('23505', 'duplicate key value violates unique constraint')],
      ['postgres', coded('57014', 'canceling statement due to statement timeout')],
      ['postgres', coded('42P01', 'relation "users" does not exist')],
      ['postgres', new Error('something else')],
      ['sqlite', coded('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: users.email_key')],
      ['sqlite', coded('SQLITE_ERROR', 'no such table: users')],
      // Codes of the other dialect do not count.
      ['sqlite', coded('57P01')],
      ['postgres', coded('SQLITE_FULL')],
    ] as const) {
      assert.equal(outageRule(error, dialect), undefined, `${dialect} ${(error as { code?: string }).code} ${error.message}`);
    }
  });

  test('the API message keeps to the fixed reason; describeOutage adds the server words for operators', () => {
    const error = coded('55000', 'database "roster_x" is not currently accepting connections');
    const mapped = new DatabaseUnavailableError(outageRule(error, 'postgres')!, { cause: error });
    assert.equal(mapped.message, 'The database is unavailable (PostgreSQL refused the connection); retry later.');
    const operator = 'PostgreSQL refused the connection: database "roster_x" is not currently accepting connections';
    assert.equal(describeOutage(mapped), operator);
    assert.equal(describeOutage(new Error('migrations could not run', { cause: error })), operator);
    assert.equal(describeOutage(coded('SQLITE_FULL', 'database or disk is full')), 'database disk is full: database or disk is full');
    assert.equal(describeOutage(coded('23505')), undefined);
  });
});

describe('failOnOutage', () => {
  test('an outage becomes DatabaseUnavailableError, a statement timeout StatementTimeoutError (504, as the request deadline), the rest passes', async () => {
    await assert.rejects(
      failOnOutage(sqliteDialect, () => Promise.reject(coded('SQLITE_FULL'))),
      (e) => e instanceof DatabaseUnavailableError && e.rule.name === 'SQLITE_FULL',
    );
    await assert.rejects(
      failOnOutage(postgresDialect, () => Promise.reject(coded('57014'))),
      (e) => e instanceof StatementTimeoutError && toProblem(e, 'r').status === 504,
    );
    const other = coded('23505');
    await assert.rejects(
      failOnOutage(postgresDialect, () => Promise.reject(other)),
      (e) => e === other,
    );
  });

  test('a read whose connection was lost runs once more; a refused connection or a write does not', async () => {
    let calls = 0;
    const lostOnce = () => (++calls === 1 ? Promise.reject(coded('57P01')) : Promise.resolve('row'));
    assert.equal(await failOnOutage(postgresDialect, lostOnce, { retryLostConnection: true }), 'row');
    assert.equal(calls, 2);

    calls = 0;
    const lostTwice = () => (++calls, Promise.reject(new Error('Connection terminated unexpectedly')));
    await assert.rejects(failOnOutage(postgresDialect, lostTwice, { retryLostConnection: true }), DatabaseUnavailableError);
    assert.equal(calls, 2, 'once more, not more');

    calls = 0;
    const refused = () => (++calls, Promise.reject(coded('55000', 'database "x" is not currently accepting connections')));
    await assert.rejects(failOnOutage(postgresDialect, refused, { retryLostConnection: true }), DatabaseUnavailableError);
    assert.equal(calls, 1, 'a refused connection is not retried at once');

    calls = 0;
    await assert.rejects(
      failOnOutage(postgresDialect, () => (++calls, Promise.reject(coded('57P01')))),
      DatabaseUnavailableError,
    );
    assert.equal(calls, 1, 'not retried without retryLostConnection (writes)');
  });
});
