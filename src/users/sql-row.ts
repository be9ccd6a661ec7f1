import type { SqlDialect } from '../db/dialect.js';
import { parseIsoTimestamp } from '../kit/iso-time.js';
import { withStoredText } from './document.js';
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

/** The columns of StoredUserColumns, in the stores' select lists. */
export const USER_COLUMNS =
  'id, email, name, active, external_id, given_name, family_name, attributes, profile, version, created_at, updated_at';

/**
 * The user a row holds (the inverse of toUserRow()). Where the driver gives the attributes and
 * times as the stored text (SQLite), the user keeps that text too, so a read answered as it is
 * writes it straight to the wire (users/document.ts).
 */
export function fromUserRow(row: StoredUserColumns, dialect: SqlDialect): User {
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
    createdAt: dialect.fromTime(row.created_at),
    updatedAt: dialect.fromTime(row.updated_at),
  };
  const { attributes, profile, created_at: createdAt, updated_at: updatedAt } = row;
  if (typeof attributes !== 'string' || typeof profile !== 'string' || typeof createdAt !== 'string' || typeof updatedAt !== 'string') {
    return user;
  }
  return withStoredText(user, { attributes, profile, createdAt, updatedAt });
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
