/**
 * The plans of the scale bench's routes, from the statements Roster's stores build: SQLite's
 * `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` with the route's parameters.
 */
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { foldKey } from '../src/users/model.js';
import { prefixRange } from '../src/users/search.js';
import * as pgStatements from '../src/users/sql-postgres-statements.js';
import * as sqliteStatements from '../src/users/sqlite-statements.js';
import { pageQueryOf } from './scale-baseline.js';

export type RouteQuery =
  | { readonly kind: 'get'; readonly id: string }
  | { readonly kind: 'page'; readonly email?: string; readonly after?: string }
  | { readonly kind: 'search'; readonly prefix: string };

interface Statement {
  readonly label: string;
  readonly sqlite: { text: string; params: unknown[] };
  readonly postgres: { text: string; values: unknown[] };
}

function statementsOf(title: string, query: RouteQuery): Statement[] {
  if (query.kind === 'get') {
    return [
      {
        label: title,
        sqlite: { text: 'select id, email, name, attributes, version, created_at, updated_at from users where id = ?', params: [query.id] },
        postgres: { text: pgStatements.GET.text, values: [query.id] },
      },
    ];
  }
  if (query.kind === 'page') {
    const page = pageQueryOf(query);
    const s = sqliteStatements.listStatementOf(page);
    const p = pgStatements.listStatementOf(page);
    return [
      {
        label: title,
        sqlite: { text: sqliteStatements.listText(s.shape), params: s.params },
        postgres: { text: p.statement.text, values: p.values },
      },
    ];
  }
  const range = prefixRange(foldKey(query.prefix));
  return (['email', 'name'] as const).map((key) => {
    const scan = { key, after: { key: range.from, id: '' }, below: range.below, limit: 51 };
    const s = sqliteStatements.searchStatementOf(scan);
    const p = pgStatements.searchStatementOf(scan);
    return {
      label: `${title}, ${key} scan`,
      sqlite: { text: sqliteStatements.searchText(s.shape), params: s.params },
      postgres: { text: p.statement.text, values: p.values },
    };
  });
}

export function explainSqlite(file: string, queries: { title: string; query: RouteQuery }[]): string {
  const connection = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const out: string[] = [];
    for (const { title, query } of queries) {
      for (const statement of statementsOf(title, query)) {
        const plan = connection.prepare(`explain query plan ${statement.sqlite.text}`).all(...statement.sqlite.params) as {
          detail: string;
        }[];
        out.push(`${statement.label}:`, '```', statement.sqlite.text, ...plan.map((p) => `  ${p.detail}`), '```');
      }
    }
    return out.join('\n');
  } finally {
    connection.close();
  }
}

export async function explainPostgres(url: string, queries: { title: string; query: RouteQuery }[]): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: string[] = [];
    for (const { title, query } of queries) {
      for (const statement of statementsOf(title, query)) {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(
          `explain (analyze, buffers, costs off) ${statement.postgres.text}`,
          statement.postgres.values,
        );
        out.push(`${statement.label}:`, '```', statement.postgres.text, ...rows.map((r) => `  ${r['QUERY PLAN']}`), '```');
      }
    }
    return out.join('\n');
  } finally {
    await client.end();
  }
}
