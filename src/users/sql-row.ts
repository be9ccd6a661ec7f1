import type { SqlDialect } from '../db/dialect.js';
import { parseIsoTimestamp } from '../kit/iso-time.js';
import {
  storedUserJson,
  userJson,
  withStoredText,
  type ListedUserJson,
  type StoredUserText,
  type UserJson,
  type WireScalars,
} from './document.js';
import {
  foldKey,
  type Attributes,
  type Email,
  type ExternalId,
  PROVISIONING_DEFAULTS,
  type Profile,
  type User,
  type UserId,
  type UserName,
} from './model.js';

/** A user as a row of `users` (without the import's bookkeeping column, `imported_by`). */
export interface UserRow {
  readonly id: string;
  readonly email: string;
  readonly email_key: string;
  readonly name: string;
  readonly name_key: string;
  /** boolean on PostgreSQL, 1/0 on SQLite. */
  readonly active: boolean | number;
  readonly external_id: string | null;
  readonly given_name: string | null;
  readonly family_name: string | null;
  readonly attributes: string;
  readonly profile: string;
  readonly version: number;
  readonly created_at: Date | string;
  readonly updated_at: Date | string;
}

/**
 * The one mapping of a user to its row, for both users stores and both batch writers: the keys are
 * foldKey() of the email and the name, the attributes are stored as written (JSON text; jsonb on
 * PostgreSQL), times as the dialect keeps them.
 */
export function toUserRow(user: User, dialect: SqlDialect): UserRow {
  return {
    id: user.id,
    email: user.email,
    email_key: foldKey(user.email),
    name: user.name,
    name_key: foldKey(user.name),
    active: dialect.name === 'sqlite' ? (user.active ? 1 : 0) : user.active,
    external_id: user.externalId,
    given_name: user.givenName,
    family_name: user.familyName,
    attributes: dialect.toJson(user.attributes),
    profile: dialect.toJson(user.profile),
    version: user.version,
    created_at: dialect.toTime(user.createdAt),
    updated_at: dialect.toTime(user.updatedAt),
  };
}

/** The columns a user is read from. */
export interface StoredUserColumns {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly active: unknown;
  readonly external_id: string | null;
  readonly given_name: string | null;
  readonly family_name: string | null;
  readonly attributes: unknown;
  readonly profile: unknown;
  readonly version: number;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

/** How a column is declared to PostgreSQL in a statement's parameter casts. */
type PgType = 'uuid' | 'text' | 'boolean' | 'jsonb' | 'integer' | 'timestamptz';

/**
 * The columns of a users row, in the order every statement that writes one lists them: the one
 * place a column is named for SQL. `set` says which statements write it (`insert`: only a new
 * row; `always`: a change too); `key` marks the fold keys, which are written but never read back
 * into a user. Each statement's column list, placeholders and value array is made from this.
 */
const COLUMNS: readonly { readonly name: keyof UserRow; readonly pg: PgType; readonly set: 'insert' | 'always'; readonly key?: true }[] = [
  { name: 'id', pg: 'uuid', set: 'insert' },
  { name: 'email', pg: 'text', set: 'always' },
  { name: 'email_key', pg: 'text', set: 'always', key: true },
  { name: 'name', pg: 'text', set: 'always' },
  { name: 'name_key', pg: 'text', set: 'always', key: true },
  { name: 'active', pg: 'boolean', set: 'always' },
  { name: 'external_id', pg: 'text', set: 'always' },
  { name: 'given_name', pg: 'text', set: 'always' },
  { name: 'family_name', pg: 'text', set: 'always' },
  { name: 'attributes', pg: 'jsonb', set: 'always' },
  { name: 'profile', pg: 'jsonb', set: 'always' },
  { name: 'version', pg: 'integer', set: 'always' },
  { name: 'created_at', pg: 'timestamptz', set: 'insert' },
  { name: 'updated_at', pg: 'timestamptz', set: 'always' },
];
const CHANGED_COLUMNS = COLUMNS.filter((c) => c.set === 'always');

/** The names of a row's columns in statement order (for the test that keeps them in step with toUserRow()). */
export const USER_ROW_COLUMNS: readonly string[] = COLUMNS.map((c) => c.name);

/** The names of StoredUserColumns, in the order of the stores' select lists. */
export const USER_READ_COLUMNS: readonly string[] = COLUMNS.filter((c) => c.key !== true).map((c) => c.name);

/** The columns of StoredUserColumns, in the stores' select lists. */
export const USER_COLUMNS = USER_READ_COLUMNS.join(', ');

/**
 * The columns of a row read as an array of values in USER_COLUMNS order (better-sqlite3's raw
 * mode), as the object fromUserRow() takes. SQLite reads rows so because better-sqlite3 makes a
 * row object by setting its properties one at a time through V8's API: on a 12-column row that
 * cost ~1.3 µs a row more than the array and this literal (bench/RESULTS.md, issue 14 fifth
 * pass). test/users/sql-row.unit.test.ts keeps the positions in step with USER_READ_COLUMNS.
 */
export function storedUserColumnsOf(v: readonly unknown[]): StoredUserColumns {
  return {
    id: v[0] as string,
    email: v[1] as string,
    name: v[2] as string,
    active: v[3],
    external_id: v[4] as string | null,
    given_name: v[5] as string | null,
    family_name: v[6] as string | null,
    attributes: v[7],
    profile: v[8],
    version: v[9] as number,
    created_at: v[10],
    updated_at: v[11],
  };
}

/** The columns a new row is inserted with, in insertValues()'s order. */
export const INSERT_COLUMNS = COLUMNS.map((c) => c.name).join(', ');

/** A new row's values, in INSERT_COLUMNS order. */
export function insertValues(r: UserRow): unknown[] {
  return COLUMNS.map((c) => r[c.name]);
}

/** A change's values, in the order of the assignments (sqliteAssignments(), postgresAssignments()). */
export function updateValues(r: UserRow): unknown[] {
  return CHANGED_COLUMNS.map((c) => r[c.name]);
}

/** SQLite: `?, ?, …` for INSERT_COLUMNS, and the assignments of a change, `email = ?, …`. */
export const SQLITE_INSERT_PLACEHOLDERS = COLUMNS.map(() => '?').join(', ');
export const SQLITE_UPDATE_ASSIGNMENTS = CHANGED_COLUMNS.map((c) => `${c.name} = ?`).join(', ');

/** PostgreSQL: INSERT_COLUMNS' values as typed parameters from `$first` on (`$1::uuid, $2::text, …`). */
export function postgresInsertParams(first: number): string {
  return COLUMNS.map((c, i) => `$${first + i}::${c.pg}`).join(', ');
}

/** PostgreSQL: the assignments of a change, updateValues() as typed parameters from `$first` on. */
export function postgresAssignments(first: number): string {
  return CHANGED_COLUMNS.map((c, i) => `${c.name} = $${first + i}::${c.pg}`).join(', ');
}

/**
 * The user a row holds (the inverse of toUserRow()). Where the driver gives the attributes and
 * times as the stored text (SQLite; PostgreSQL statements read with timesAndJsonAsText()), the
 * user keeps that text too, so a read answered as it is
 * writes it straight to the wire (users/document.ts).
 */
export function fromUserRow(row: StoredUserColumns, dialect: SqlDialect): User {
  const text = storedTextOf(row, dialect);
  const user: User = {
    id: row.id as UserId,
    email: row.email as Email,
    name: row.name as UserName,
    // SQLite keeps 1/0.
    active: row.active === true || row.active === 1,
    externalId: row.external_id as ExternalId | null,
    givenName: row.given_name as UserName | null,
    familyName: row.family_name as UserName | null,
    attributes: dialect.fromJson(row.attributes) as Attributes,
    profile: dialect.fromJson(row.profile) as Profile,
    version: row.version,
    createdAt: text === undefined ? dialect.fromTime(row.created_at) : parseIsoTimestamp(text.createdAt),
    updatedAt: text === undefined ? dialect.fromTime(row.updated_at) : parseIsoTimestamp(text.updatedAt),
  };
  return text === undefined ? user : withStoredText(user, text);
}

/**
 * The wire document of the user a row holds, and its version: userJson(fromUserRow(row)) without
 * the User in between where the row holds its attributes and times as text (storedUserJson()),
 * so a GET, and a listed page (listedUserJsonOfRow()), parses no JSON and makes no Date it would
 * only write back (bench/RESULTS.md, issue 14 thirteenth and fourteenth passes).
 */
export function userJsonOfRow(row: StoredUserColumns, dialect: SqlDialect): UserJson {
  return { version: row.version, json: documentOfRow(row, dialect) };
}

/** A listed page's user (UserStore.listJson(), searchJson()): its id and userJsonOfRow()'s document. */
export function listedUserJsonOfRow(row: StoredUserColumns, dialect: SqlDialect): ListedUserJson {
  return { id: row.id as UserId, json: documentOfRow(row, dialect) };
}

function documentOfRow(row: StoredUserColumns, dialect: SqlDialect): string {
  const text = storedTextOf(row, dialect);
  const json = text === undefined ? undefined : storedUserJson(wireScalarsOf(row), text);
  return json ?? userJson(fromUserRow(row, dialect));
}

// The fields fromUserRow() spells out too: spreading these into its literal would make a second object per row of a page.
function wireScalarsOf(row: StoredUserColumns): WireScalars {
  return {
    id: row.id as UserId,
    email: row.email as Email,
    name: row.name as UserName,
    active: row.active === true || row.active === 1,
    externalId: row.external_id as ExternalId | null,
    givenName: row.given_name as UserName | null,
    familyName: row.family_name as UserName | null,
    version: row.version,
  };
}

/** The row's attributes, profile and times as the store keeps them, when the driver gave all four as text. */
function storedTextOf(row: StoredUserColumns, dialect: SqlDialect): StoredUserText | undefined {
  const createdAt = dialect.timeText(row.created_at);
  const updatedAt = dialect.timeText(row.updated_at);
  const { attributes, profile } = row;
  if (typeof attributes !== 'string' || typeof profile !== 'string' || createdAt === undefined || updatedAt === undefined) {
    return undefined;
  }
  return { attributes, profile, createdAt, updatedAt };
}

/** The user an idempotency record keeps (its `result` column): JSON text, times as toISOString(). */
export function toUserSnapshot(user: User): string {
  return JSON.stringify({ ...user, createdAt: user.createdAt.toISOString(), updatedAt: user.updatedAt.toISOString() });
}

/**
 * The inverse of toUserSnapshot(), from the text (SQLite) or the parsed jsonb (PostgreSQL). A
 * record written before migration 0011 lacks the provisioning fields: it gets their defaults.
 */
export function fromUserSnapshot(stored: unknown): User {
  const snap = (typeof stored === 'string' ? JSON.parse(stored) : stored) as Omit<User, 'createdAt' | 'updatedAt'> & {
    createdAt: string;
    updatedAt: string;
  };
  return {
    ...PROVISIONING_DEFAULTS,
    ...snap,
    createdAt: parseIsoTimestamp(snap.createdAt),
    updatedAt: parseIsoTimestamp(snap.updatedAt),
  };
}
