import type SQLite from 'better-sqlite3';
import type { RawStatement } from '../db/instrumentation.js';
import { SQLITE_LIMIT, type PreparedStatement } from '../db/sqlite-steps.js';
import type { SearchKey } from './search.js';
import { SQLITE_LISTED_USER_COLUMNS, SQLITE_USER_JSON_COLUMNS } from './sqlite-wire.js';
import type { KeyRangeQuery, UserPageQuery } from './service.js';
import { INSERT_COLUMNS, SQLITE_INSERT_PLACEHOLDERS, SQLITE_UPDATE_ASSIGNMENTS, USER_COLUMNS, USER_READ_COLUMNS } from './sql-row.js';

/** A prepared statement with what the metrics and spans say of it. */
export type Prepared = PreparedStatement;

/**
 * A row of `users` as SqliteUserStore reads it: the values of USER_COLUMNS in order (raw mode),
 * which sql-row.ts storedUserColumnsOf() names for fromUserRow(). A search scan's row has the
 * email and name keys after them (SEARCH_KEYS_AT).
 */
export type StoredUserValues = readonly unknown[];

/** Where a search scan's row (searchText()) has `email_key`; `name_key` follows it. */
export const SEARCH_KEYS_AT = USER_READ_COLUMNS.length;

/** A row of `users` read as an object (the batch writer's lookups). */
export interface StoredUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly active: number;
  readonly external_id: string | null;
  readonly given_name: string | null;
  readonly family_name: string | null;
  readonly attributes: string;
  readonly profile: string;
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

/**
 * Every statement SqliteUserStore runs, prepared once per store: parsing and planning SQL cost
 * more than running a primary-key lookup. Lists and searches have one statement per shape
 * (which filters are present), prepared on first use.
 */
export function prepareUserStatements(connection: SQLite.Database) {
  const prepare = (operation: RawStatement['operation'], table: string, text: string): Prepared => ({
    operation,
    table,
    text,
    statement: connection.prepare(text),
  });
  /** A statement whose rows are users: read as values (StoredUserValues), not objects. */
  const prepareUsers = (text: string): Prepared => {
    const prepared = prepare('select', 'users', text);
    prepared.statement.raw(true);
    return prepared;
  };
  // 48 at most: the 24 shapes of listShapes() and searchShapes(), each read as users and as documents.
  const shapes = new Map<string, Prepared>();
  return {
    getUser: prepareUsers(`select ${USER_COLUMNS} from users where id = ?`),
    getUserJson: prepareUsers(`select ${SQLITE_USER_JSON_COLUMNS} from users where id = ?`),
    insertUser: prepare('insert', 'users', `insert into users (${INSERT_COLUMNS}) values (${SQLITE_INSERT_PLACEHOLDERS})`),
    updateUser: prepare('update', 'users', `update users set ${SQLITE_UPDATE_ASSIGNMENTS} where id = ?`),
    deleteUser: prepare('delete', 'users', 'delete from users where id = ?'),
    // The inner LIMIT bounds the walk; max(id) of at most `n` ids is the last one passed.
    // The steps of UserStore.skip(): the n-th id after the position (an index walk with nothing
    // to compute, three times cheaper than counting the same ids), and only for the last, short
    // step the count of what is left.
    skipTo: prepare('select', 'users', 'select id from users where id > ? order by id limit 1 offset ?'),
    skipRest: prepare(
      'select',
      'users',
      `select count(*) as passed, max(id) as last from (select id from users where id > ? order by id ${SQLITE_LIMIT})`,
    ),
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
         (select scope, "key" from idempotency_keys where expires_at <= ? ${SQLITE_LIMIT})`,
    ),
    /** The statement of listText() for this shape, prepared on first use; `json`: its rows as SQLITE_LISTED_USER_COLUMNS. */
    list(shape: ListShape, json = false): Prepared {
      const key = `list:${json}:${shape.emailKey}:${shape.externalId}:${shape.active}:${shape.prefix}:${shape.below}`;
      const columns = json ? SQLITE_LISTED_USER_COLUMNS : USER_COLUMNS;
      return shapes.get(key) ?? shapes.set(key, prepareUsers(listText(shape, columns))).get(key)!;
    },
    /** The statement of searchText() for this shape, prepared on first use; `json`: its rows as SQLITE_LISTED_USER_COLUMNS. */
    search(shape: SearchShape, json = false): Prepared {
      const key = `search:${json}:${shape.key}:${shape.below}`;
      const columns = json ? SQLITE_LISTED_USER_COLUMNS : USER_COLUMNS;
      return shapes.get(key) ?? shapes.set(key, prepareUsers(searchText(shape, columns))).get(key)!;
    },
  };
}
export type UserStatements = ReturnType<typeof prepareUserStatements>;

/** Which parts a page statement has; `prefix` only with `emailKey` or `externalId`, `below` only with a prefix. */
export interface ListShape {
  readonly emailKey: boolean;
  readonly externalId: boolean;
  readonly active: boolean;
  readonly prefix: boolean;
  readonly below: boolean;
}

/** Which key a search scan walks and whether its range has an upper end. */
export interface SearchShape {
  readonly key: SearchKey;
  readonly below: boolean;
}

export function listShapes(): ListShape[] {
  const shapes: ListShape[] = [];
  for (const active of [false, true]) {
    for (const [emailKey, externalId] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      shapes.push({ emailKey, externalId, active, prefix: false, below: false });
      if (!emailKey && !externalId) continue;
      shapes.push(
        { emailKey, externalId, active, prefix: true, below: true },
        { emailKey, externalId, active, prefix: true, below: false },
      );
    }
  }
  return shapes;
}

export function searchShapes(): SearchShape[] {
  return (['email', 'name'] as const).flatMap((key) => [true, false].map((below) => ({ key, below })));
}

/**
 * A page in id order. Always `id > ?` ('' for the first page), so even a first page is a range on
 * the primary key, or with `active` a range on the (active, id) index. With the email key or the
 * external id, a unique index finds the one user and the other conditions only filter it.
 * PostgreSQL's shapes are the same (sql-postgres-statements.ts).
 */
export function listText(shape: ListShape, columns = USER_COLUMNS): string {
  const conditions = ['id > ?'];
  if (shape.emailKey) conditions.push('email_key = ?');
  if (shape.externalId) conditions.push('external_id = ?');
  if (shape.active) conditions.push('active = ?');
  if (shape.prefix) {
    const range = (key: string) => `(${key} >= ?${shape.below ? ` and ${key} < ?` : ''})`;
    conditions.push(`(${range('email_key')} or ${range('name_key')})`);
  }
  return `select ${columns} from users where ${conditions.join(' and ')} order by ${ACTIVE_ORDER(shape)} ${SQLITE_LIMIT}`;
}

/** Whether a page is a range of the (active, id) index: `active` is its only filter that finds few rows. */
export const activeRange = (shape: ListShape): boolean => shape.active && !shape.emailKey && !shape.externalId;

/**
 * A page of one active state is ordered by (active, id), the same order (active is one value),
 * and on PostgreSQL its cursor is the row comparison `(active, id) > (?, ?)`: only the (active,
 * id) index serves both, so the planner cannot take the primary key and filter, as it does for
 * `active = $2 and id > $1 … order by id` when most users are active (its generic plan assumes
 * half the rows match; a page is then bounded only while few users are in the other state).
 */
export const ACTIVE_ORDER = (shape: ListShape): string => (activeRange(shape) ? 'active, id' : 'id');

/** The shape of a page query and its parameters in listText()'s order. */
export function listStatementOf(query: UserPageQuery): { shape: ListShape; params: unknown[] } {
  const params: unknown[] = [query.afterId ?? ''];
  if (query.emailKey !== undefined) params.push(query.emailKey);
  if (query.externalId !== undefined) params.push(query.externalId);
  if (query.active !== undefined) params.push(query.active ? 1 : 0);
  const range = query.prefix;
  if (range !== undefined) {
    const bounds = range.below === undefined ? [range.from] : [range.from, range.below];
    params.push(...bounds, ...bounds);
  }
  params.push(query.limit);
  const shape = {
    emailKey: query.emailKey !== undefined,
    externalId: query.externalId !== undefined,
    active: query.active !== undefined,
    prefix: range !== undefined,
    below: range?.below !== undefined,
  };
  return { shape, params };
}

/**
 * One scan of a prefix search (users/search.ts): rows after the position (key, id) and below the
 * range's end, in (key, id) order, with both keys. BINARY comparison is UTF-8 byte order, as
 * search.ts's compareKeys().
 *
 * `name_key` is not unique: its index is (name_key, id) and the position is a row value. `email_key`
 * is unique, so its index has the key alone: `email_key >= ?` is the range, and the one row that
 * may have the position's key is dropped by the filter unless its id comes after.
 */
export function searchText(shape: SearchShape, columns = USER_COLUMNS): string {
  const below = shape.below ? ` and ${shape.key}_key < ?` : '';
  if (shape.key === 'email') {
    return `select ${columns}, email_key, name_key from users where email_key >= ? and (email_key <> ? or id > ?)${below} order by email_key ${SQLITE_LIMIT}`;
  }
  return `select ${columns}, email_key, name_key from users where (name_key, id) > (?, ?)${below} order by name_key, id ${SQLITE_LIMIT}`;
}

/** The shape of a scan and its parameters in searchText()'s order. */
export function searchStatementOf(query: KeyRangeQuery): { shape: SearchShape; params: unknown[] } {
  const params: unknown[] = query.key === 'email' ? [query.after.key, query.after.key, query.after.id] : [query.after.key, query.after.id];
  if (query.below !== undefined) params.push(query.below);
  params.push(query.limit);
  return { shape: { key: query.key, below: query.below !== undefined }, params };
}
