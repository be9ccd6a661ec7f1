import type { RawStatement } from '../db/instrumentation.js';
import type { KeyRangeQuery, UserPageQuery } from './service.js';
import { ACTIVE_ORDER, activeRange, type ListShape, type SearchShape } from './sqlite-statements.js';
import { INSERT_COLUMNS, USER_COLUMNS, postgresAssignments, postgresInsertParams } from './sql-row.js';

/**
 * The SQL of PostgresUserStore. Each statement has a fixed name: node-postgres parses a named
 * statement once per connection and from then on only binds and executes it, so PostgreSQL
 * keeps the parsed query (and, once it proves as good as a custom one, the plan) per connection.
 */
export interface NamedStatement extends RawStatement {
  readonly name: string | undefined;
  /** Reads users' rows: their times and JSON come as text (db/dialect.ts timesAndJsonAsText()). */
  readonly readsUsers?: true;
}

const EVENT_COLUMNS = 'id, type, occurred_at, actor, request_id, subject_id, data';

/** The event's values from parameter `first` on, in toEventRow()'s order (see eventValues()). */
function eventSelect(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `select ${p(0)}::uuid, ${p(1)}::text, ${p(2)}::timestamptz, ${p(3)}::text, ${p(4)}::text, ${p(5)}::uuid, ${p(6)}::jsonb`;
}

/**
 * The tail every write shares: the event, inserted for the row the change returned (none when
 * the change wrote nothing). No lock and no sequence: the event is numbered after the statement
 * commits, by a numbering pass the store waits for (events/sql-sequencer.ts).
 */
function withEvent(change: string, firstEventParam: number): string {
  return `\ninsert into events (${EVENT_COLUMNS}) ${eventSelect(firstEventParam)} from ${change}`;
}

/**
 * $1–$14 of a create, insertValues()'s columns (sql-row.ts). The event follows at $15, the
 * idempotency record at $22; the record's created_at is the user's ($13).
 */
const NEW_USER = postgresInsertParams(1);

export const CREATE: NamedStatement = {
  name: 'roster.users.create',
  operation: 'insert',
  table: 'users',
  text: `with created as (insert into users (${INSERT_COLUMNS})\n` + `  select ${NEW_USER} returning id)` + withEvent('created', 15),
};

/**
 * With an idempotency record. The key goes in first, so a concurrent request with the same key
 * waits on it (and then replays) instead of racing for the email and reporting a conflict. An
 * expired record under the same key is replaced (ON CONFLICT … WHERE expired); an unexpired one
 * makes `remembered` empty, so nothing is written and no row comes back: the key is taken.
 */
export const CREATE_REMEMBERED: NamedStatement = {
  name: 'roster.users.create-remembered',
  operation: 'insert',
  table: 'users',
  text:
    `with remembered as (insert into idempotency_keys as k (scope, key, fingerprint, result, created_at, expires_at)\n` +
    `  values ($22::text, $23::text, $24::text, $25::jsonb, $13::timestamptz, $26::timestamptz)\n` +
    `  on conflict (scope, key) do update set fingerprint = excluded.fingerprint, result = excluded.result,\n` +
    `    created_at = excluded.created_at, expires_at = excluded.expires_at where k.expires_at <= excluded.created_at\n` +
    `  returning 1),\n` +
    `created as (insert into users (${INSERT_COLUMNS})\n` +
    `  select ${NEW_USER} from remembered returning id)` +
    withEvent('created', 15),
};

export const GET: NamedStatement = {
  name: 'roster.users.get',
  operation: 'select',
  table: 'users',
  readsUsers: true,
  text: `select ${USER_COLUMNS} from users where id = $1`,
};

export const LOCK_FOR_CHANGE: NamedStatement = {
  name: 'roster.users.lock-for-change',
  operation: 'select',
  table: 'users',
  readsUsers: true,
  text: `select ${USER_COLUMNS} from users where id = $1 for update`,
};

/**
 * The user's row as the caller last read it: its version and updated_at, the last two
 * parameters. Every writer that changes a user's fields bumps its version (this store, the
 * import's upsert), so a match means nobody changed it since; a mismatch (or a timestamp with
 * more precision than a JS Date, which never matches) only sends the caller down the locked path.
 */
const UNCHANGED = (version: number) => ` and version = $${version}::integer and updated_at = $${version + 1}::timestamptz`;

/** $1 id, $2–$13 the new fields (updateValues() in sql-row.ts), $14–$20 the event; guarded: $21–$22 the row as read (UNCHANGED). */
function updateText(guarded: boolean): string {
  return (
    `with changed as (update users set ${postgresAssignments(2)} where id = $1${guarded ? UNCHANGED(21) : ''} returning id)` +
    withEvent('changed', 14)
  );
}

/** $1 id, $2–$8 the event; guarded: $9–$10 the row as read (UNCHANGED). */
function deleteText(guarded: boolean): string {
  return `with removed as (delete from users where id = $1${guarded ? UNCHANGED(9) : ''} returning id)` + withEvent('removed', 2);
}

/** Under the row lock of LOCK_FOR_CHANGE. */
export const UPDATE: NamedStatement = { name: 'roster.users.update', operation: 'update', table: 'users', text: updateText(false) };
export const DELETE: NamedStatement = { name: 'roster.users.delete', operation: 'delete', table: 'users', text: deleteText(false) };

/** Autocommit, after an unlocked read: writes nothing (no row back) when the user changed since. */
export const UPDATE_IF_UNCHANGED: NamedStatement = {
  name: 'roster.users.update-if-unchanged',
  operation: 'update',
  table: 'users',
  text: updateText(true),
};
export const DELETE_IF_UNCHANGED: NamedStatement = {
  name: 'roster.users.delete-if-unchanged',
  operation: 'delete',
  table: 'users',
  text: deleteText(true),
};

export const FIND_IDEMPOTENCY: NamedStatement = {
  name: 'roster.users.find-idempotency',
  operation: 'select',
  table: 'idempotency_keys',
  text: `select fingerprint, result, expires_at from idempotency_keys where scope = $1 and key = $2 and expires_at > $3`,
};

export const PURGE_IDEMPOTENCY: NamedStatement = {
  name: undefined,
  operation: 'delete',
  table: 'idempotency_keys',
  text:
    `delete from idempotency_keys where (scope, key) in\n` + `  (select scope, key from idempotency_keys where expires_at <= $1 limit $2)`,
};

/**
 * A page in id order, as the SQLite store's (sqlite-statements.ts listText(), the same shapes):
 * always `id > $1` ('' for the first page), the email key's unique index when it is given, the
 * prefix range only filtering that one user. Each shape is a named statement: its parameters are
 * plain values, so the generic plan PostgreSQL may settle on is the same index range scan.
 */
export function listStatement(shape: ListShape): NamedStatement {
  const key =
    `list${shape.emailKey ? '-email' : ''}${shape.externalId ? '-external-id' : ''}${shape.active ? '-active' : ''}` +
    `${shape.prefix ? '-prefix' : ''}${shape.prefix && !shape.below ? '-open' : ''}`;
  return cached(key, () => {
    const where = ['id > $1'];
    let n = 1;
    if (shape.emailKey) where.push(`email_key = $${++n}`);
    if (shape.externalId) where.push(`external_id = $${++n}`);
    if (shape.active) {
      const active = `$${++n}`;
      // The cursor as a row comparison: see ACTIVE_ORDER.
      if (activeRange(shape)) where[0] = `(active, id) > (${active}::boolean, $1)`;
      where.push(`active = ${active}`);
    }
    if (shape.prefix) {
      const from = `$${++n}`;
      const below = shape.below ? `$${++n}` : undefined;
      const email = `email_key ~>=~ ${from}${below === undefined ? '' : ` and email_key ~<~ ${below}`}`;
      const name = `name_key collate "C" >= ${from}${below === undefined ? '' : ` and name_key collate "C" < ${below}`}`;
      where.push(`((${email}) or (${name}))`);
    }
    return `select ${USER_COLUMNS} from users where ${where.join(' and ')} order by ${ACTIVE_ORDER(shape)} limit $${n + 1}`;
  });
}

/**
 * The steps of UserStore.skip(): the n-th id after the position (an index-only walk with nothing
 * to compute, three times cheaper than counting the same ids), and only for the last, short step
 * the count of what is left. uuid has no max() before PostgreSQL 16; its text form sorts the same.
 */
export const SKIP_TO: NamedStatement = {
  name: 'roster.users.skip-to',
  operation: 'select',
  table: 'users',
  text: 'select id from users where id > $1 order by id offset $2 limit 1',
};
export const SKIP_REST: NamedStatement = {
  name: 'roster.users.skip-rest',
  operation: 'select',
  table: 'users',
  text: 'select count(*)::integer as passed, max(id::text) as last from (select id from users where id > $1 order by id limit $2) walked',
};

/**
 * The first page's lower bound. Ids are uuid (migration 0010), so the store layer's '' (before
 * every text) cannot be bound; the nil UUID sorts before every id Roster hands out (UUIDv7).
 */
export const BEFORE_EVERY_ID = '00000000-0000-0000-0000-000000000000';

/** The shape of a page query and its parameters in listStatement()'s order. */
export function listStatementOf(query: UserPageQuery): { statement: NamedStatement; values: unknown[] } {
  const values: unknown[] = [query.afterId ?? BEFORE_EVERY_ID];
  if (query.emailKey !== undefined) values.push(query.emailKey);
  if (query.externalId !== undefined) values.push(query.externalId);
  if (query.active !== undefined) values.push(query.active);
  const range = query.prefix;
  if (range !== undefined) values.push(range.from, ...(range.below === undefined ? [] : [range.below]));
  values.push(query.limit);
  const shape = {
    emailKey: query.emailKey !== undefined,
    externalId: query.externalId !== undefined,
    active: query.active !== undefined,
    prefix: range !== undefined,
    below: range?.below !== undefined,
  };
  return { statement: listStatement(shape), values };
}

/**
 * One scan of a prefix search (users/search.ts), as the SQLite store's (sqlite-statements.ts
 * searchText()): rows after the position ($1, $2) and below the range's end, in (key, id) order,
 * with both keys. Comparisons are byte order whatever the database's collation, as search.ts's
 * compareKeys(): `email_key` through its unique text_pattern_ops index and that operator class's
 * operators (~>=~, ~<~), `name_key` through its index on (name_key collate "C", id) with a row
 * comparison in the same collation (`id` is uuid, whose order is its bytes': migration 0010).
 */
export function searchStatement(shape: SearchShape): NamedStatement {
  return cached(`search-${shape.key}${shape.below ? '' : '-open'}`, () => {
    const columns = `${USER_COLUMNS}, email_key, name_key`;
    const limit = shape.below ? '$4' : '$3';
    if (shape.key === 'email') {
      const below = shape.below ? ' and email_key ~<~ $3' : '';
      return `select ${columns} from users where email_key ~>=~ $1 and (email_key <> $1 or id > $2)${below} order by email_key using ~<~ limit ${limit}`;
    }
    const below = shape.below ? ' and name_key collate "C" < $3' : '';
    return (
      `select ${columns} from users where (name_key collate "C", id) > ($1, $2)${below}` +
      ` order by name_key collate "C", id limit ${limit}`
    );
  });
}

/** The shape of a scan and its parameters in searchStatement()'s order. */
export function searchStatementOf(query: KeyRangeQuery): { statement: NamedStatement; values: unknown[] } {
  const values: unknown[] = [query.after.key, query.after.id === '' ? BEFORE_EVERY_ID : query.after.id];
  if (query.below !== undefined) values.push(query.below);
  values.push(query.limit);
  return { statement: searchStatement({ key: query.key, below: query.below !== undefined }), values };
}

/** The page and search statements, 28 at most: listShapes() and searchShapes() (sqlite-statements.ts). */
const SHAPES = new Map<string, NamedStatement>();

function cached(key: string, text: () => string): NamedStatement {
  let statement = SHAPES.get(key);
  if (statement === undefined) {
    statement = { name: `roster.users.${key}`, operation: 'select', table: 'users', text: text(), readsUsers: true };
    SHAPES.set(key, statement);
  }
  return statement;
}
