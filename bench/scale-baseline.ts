/**
 * The scale bench's minimal servers: fastify with no logger, no schemas and no hooks, the raw
 * driver, and the SAME SQL text Roster's stores run for each route (built by the stores' own
 * statement functions: sqlite-statements.ts, sql-postgres-statements.ts), so the gap between
 * the two is Roster's own cost, not a different query.
 *
 *   GET /v1/users/:id                one primary-key select
 *   GET /v1/users?email=E            the email-key page statement (limit 51)
 *   GET /v1/users?after=ID           a page in id order after ID ('' / the nil UUID: the first page)
 *   GET /v1/users?q=P                both prefix scans (limit 51 each), the rows merged in key order
 *
 * Rows go out as the driver returns them (no document mapping, no cursor), as bench/baselines.ts.
 */
import type { Statement as SQLiteStatement } from 'better-sqlite3';
import type { Baseline } from './baselines.js';
import { foldKey, type UserId } from '../src/users/model.js';
import { compareKeys, prefixRange } from '../src/users/search.js';
import * as pgStatements from '../src/users/sql-postgres-statements.js';
import * as sqliteStatements from '../src/users/sqlite-statements.js';
import type { UserPageQuery } from '../src/users/service.js';

const LIMIT = 50;

interface ListQuery {
  email?: string;
  after?: string;
  q?: string;
}

type Row = Record<string, unknown> & { email_key?: string; name_key?: string };

/** What each route asks the database, whatever the driver: a page query, or both prefix scans. */
export function pageQueryOf(query: ListQuery): UserPageQuery {
  const afterId = query.after === undefined || query.after === '' ? undefined : (query.after as UserId);
  const base = afterId === undefined ? { limit: LIMIT + 1 } : { limit: LIMIT + 1, afterId };
  return query.email === undefined ? base : { ...base, emailKey: foldKey(query.email) };
}

/** Both scans' rows, each at the key that matched, in key order; the first LIMIT. */
function merged(prefix: string, byEmail: Row[], byName: Row[]): Row[] {
  const from = foldKey(prefix);
  const at = (rows: Row[], key: 'email_key' | 'name_key') => rows.map((row) => ({ key: String(row[key]), row }));
  return [...at(byEmail, 'email_key'), ...at(byName, 'name_key')]
    .filter((hit) => hit.key.startsWith(from))
    .sort((a, b) => compareKeys(a.key, b.key))
    .slice(0, LIMIT)
    .map((hit) => hit.row);
}

const scans = (q: string) => {
  const range = prefixRange(foldKey(q));
  return (['email', 'name'] as const).map((key) => ({ key, after: { key: range.from, id: '' }, below: range.below, limit: LIMIT + 1 }));
};

export async function scaleSqlite(file: string): Promise<Baseline> {
  const { default: SQLite } = await import('better-sqlite3');
  const { default: Fastify } = await import('fastify');
  const connection = new SQLite(file, { fileMustExist: true, readonly: false });
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('busy_timeout = 5000');
  connection.pragma('foreign_keys = ON');
  const statements = sqliteStatements.prepareUserStatements(connection);
  // The store reads users' rows as arrays of values (raw mode); the driver's own shape is an
  // object per row, as pg gives the PostgreSQL handler, and what the routes' answers compare by.
  const objects = (prepared: { statement: SQLiteStatement }) => prepared.statement.raw(false);
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/v1/users/:id', async (request, reply) => {
    const row = objects(statements.getUser).get(request.params.id);
    if (row === undefined) return reply.code(404).send({ error: 'not found' });
    return row;
  });
  app.get<{ Querystring: ListQuery }>('/v1/users', async (request) => {
    const q = request.query.q;
    if (q !== undefined) {
      const [byEmail, byName] = scans(q).map((scan) => {
        const { shape, params } = sqliteStatements.searchStatementOf(scan);
        return objects(statements.search(shape)).all(...params) as Row[];
      });
      return { data: merged(q, byEmail!, byName!) };
    }
    const { shape, params } = sqliteStatements.listStatementOf(pageQueryOf(request.query));
    return { data: (objects(statements.list(shape)).all(...params) as Row[]).slice(0, LIMIT) };
  });
  return {
    app,
    async close() {
      await app.close();
      connection.close();
    },
  };
}

export async function scalePostgres(url: string, poolSize: number): Promise<Baseline> {
  const { default: pg } = await import('pg');
  const { default: Fastify } = await import('fastify');
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on('error', () => undefined); // an idle client's error must not end the baseline mid-run
  // Named statements, as PostgresUserStore sends them: parsed once per connection.
  const run = async (statement: pgStatements.NamedStatement, values: unknown[]) =>
    (await pool.query<Row>({ ...(statement.name === undefined ? {} : { name: statement.name }), text: statement.text, values })).rows;
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/v1/users/:id', async (request, reply) => {
    const rows = await run(pgStatements.GET, [request.params.id]);
    if (rows.length === 0) return reply.code(404).send({ error: 'not found' });
    return rows[0];
  });
  app.get<{ Querystring: ListQuery }>('/v1/users', async (request) => {
    const q = request.query.q;
    if (q !== undefined) {
      const [byEmail, byName] = await Promise.all(
        scans(q).map((scan) => {
          const { statement, values } = pgStatements.searchStatementOf(scan);
          return run(statement, values);
        }),
      );
      return { data: merged(q, byEmail!, byName!) };
    }
    const { statement, values } = pgStatements.listStatementOf(pageQueryOf(request.query));
    return { data: (await run(statement, values)).slice(0, LIMIT) };
  });
  return {
    app,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}
