import type SQLite from 'better-sqlite3';
import type { RawStatement } from '../db/instrumentation.js';

/** A prepared statement with what the metrics and spans say of it. */
export interface Prepared extends RawStatement {
  readonly statement: SQLite.Statement;
}

/** A row of `users` as SqliteUserStore reads it (sql-row.ts fromUserRow() takes it). */
export interface StoredUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly attributes: string;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface StoredIdempotency {
  readonly scope: string;
  readonly key: string;
  readonly fingerprint: string;
  readonly result: string;
  readonly expires_at: string;
}

const USER_COLUMNS = 'id, email, name, attributes, version, created_at, updated_at';

/**
 * Every statement SqliteUserStore runs, prepared once per store: parsing and planning SQL cost
 * more than running a primary-key lookup. The list has one statement per combination of its
 * filters (eight at most), prepared on first use.
 */
export function prepareUserStatements(connection: SQLite.Database) {
  const prepare = (operation: RawStatement['operation'], table: string, text: string): Prepared => ({
    operation,
    table,
    text,
    statement: connection.prepare(text),
  });
  const listShapes = new Map<number, Prepared>();
  return {
    getUser: prepare('select', 'users', `select ${USER_COLUMNS} from users where id = ?`),
    insertUser: prepare(
      'insert',
      'users',
      'insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateUser: prepare(
      'update',
      'users',
      'update users set email = ?, email_key = ?, name = ?, name_key = ?, attributes = ?, version = ?, updated_at = ? where id = ?',
    ),
    deleteUser: prepare('delete', 'users', 'delete from users where id = ?'),
    insertEvent: prepare(
      'insert',
      'events',
      'insert into events (id, type, occurred_at, actor, request_id, subject_id, data) values (?, ?, ?, ?, ?, ?, ?)',
    ),
    findIdempotency: prepare(
      'select',
      'idempotency_keys',
      'select scope, "key", fingerprint, result, expires_at from idempotency_keys where scope = ? and "key" = ? and expires_at > ?',
    ),
    deleteExpiredIdempotency: prepare(
      'delete',
      'idempotency_keys',
      'delete from idempotency_keys where scope = ? and "key" = ? and expires_at <= ?',
    ),
    insertIdempotency: prepare(
      'insert',
      'idempotency_keys',
      'insert into idempotency_keys (scope, "key", fingerprint, result, created_at, expires_at) values (?, ?, ?, ?, ?, ?)',
    ),
    purgeIdempotency: prepare(
      'delete',
      'idempotency_keys',
      `delete from idempotency_keys where (scope, "key") in
         (select scope, "key" from idempotency_keys where expires_at <= ? limit ?)`,
    ),
    /**
     * The page statement for these filters; its parameters, in order: the id to start after, the
     * email key, the LIKE pattern twice (name key, email key), the limit — each only when used.
     */
    listShape(afterId: boolean, emailKey: boolean, prefix: boolean): Prepared {
      const shape = (afterId ? 1 : 0) | (emailKey ? 2 : 0) | (prefix ? 4 : 0);
      let prepared = listShapes.get(shape);
      if (prepared === undefined) {
        prepared = prepare('select', 'users', listText(afterId, emailKey, prefix));
        listShapes.set(shape, prepared);
      }
      return prepared;
    },
  };
}
export type UserStatements = ReturnType<typeof prepareUserStatements>;

/** The same conditions, id order, LIMIT and LIKE escaping as PostgreSQL's shapes (sql-postgres-statements.ts). */
function listText(afterId: boolean, emailKey: boolean, prefix: boolean): string {
  const conditions: string[] = [];
  if (afterId) conditions.push('id > ?');
  if (emailKey) conditions.push('email_key = ?');
  if (prefix) conditions.push(`(name_key like ? escape '\\' or email_key like ? escape '\\')`);
  const where = conditions.length === 0 ? '' : ` where ${conditions.join(' and ')}`;
  return `select ${USER_COLUMNS} from users${where} order by id limit ?`;
}
