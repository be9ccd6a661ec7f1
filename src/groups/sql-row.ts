import type { SqlDialect } from '../db/dialect.js';
import type { Attributes, UserId } from '../users/model.js';
import { displayNameKey, type DisplayName, type ExternalId, type Group, type GroupId } from './model.js';
import type { Member } from './service.js';

export const GROUP_COLUMNS = 'id, display_name, external_id, attributes, member_count, version, created_at, updated_at';

/** The columns a group is read from. */
export interface StoredGroup {
  readonly id: string;
  readonly display_name: string;
  readonly external_id: string | null;
  readonly attributes: unknown;
  readonly member_count: number;
  readonly version: number;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

export interface StoredMember {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly added_at: unknown;
}

/**
 * A group's row values in the one order both adapters bind them: id, display_name,
 * display_name_key, external_id, attributes, member_count, version, created_at, updated_at.
 */
export function groupValues(group: Group, dialect: SqlDialect): unknown[] {
  return [
    group.id,
    group.displayName,
    displayNameKey(group.displayName),
    group.externalId,
    dialect.toJson(group.attributes),
    group.memberCount,
    group.version,
    dialect.toTime(group.createdAt),
    dialect.toTime(group.updatedAt),
  ];
}

export function fromGroupRow(row: StoredGroup, dialect: SqlDialect): Group {
  return {
    id: row.id as GroupId,
    displayName: row.display_name as DisplayName,
    externalId: row.external_id as ExternalId | null,
    attributes: dialect.fromJson(row.attributes) as Attributes,
    memberCount: Number(row.member_count),
    version: row.version,
    createdAt: dialect.fromTime(row.created_at),
    updatedAt: dialect.fromTime(row.updated_at),
  };
}

export function fromMemberRow(row: StoredMember, dialect: SqlDialect): Member {
  return { userId: row.id as UserId, email: row.email, name: row.name, addedAt: dialect.fromTime(row.added_at) };
}

/** Which unique index a violation hit, by the constraint's name (PostgreSQL) or the column in the message (SQLite). */
export function violatedGroupKey(error: unknown): 'display_name' | 'external_id' | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  if (code === '23505') {
    if (constraint === 'groups_display_name_key') return 'display_name';
    if (constraint === 'groups_external_id') return 'external_id';
    return undefined;
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
    if (error.message.includes('groups.display_name_key')) return 'display_name';
    if (error.message.includes('groups.external_id')) return 'external_id';
  }
  return undefined;
}

/** A foreign key violation: on a membership insert, a user deleted meanwhile. */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** The group an idempotency record keeps (its `result` column): JSON, times as toISOString(). */
export function toGroupSnapshot(group: Group): string {
  return JSON.stringify({ ...group, createdAt: group.createdAt.toISOString(), updatedAt: group.updatedAt.toISOString() });
}

/** The inverse of toGroupSnapshot(), from the text (SQLite) or the parsed jsonb (PostgreSQL). */
export function fromGroupSnapshot(stored: unknown): Group {
  const snap = (typeof stored === 'string' ? JSON.parse(stored) : stored) as Omit<Group, 'createdAt' | 'updatedAt'> & {
    createdAt: string;
    updatedAt: string;
  };
  return { ...snap, createdAt: new Date(snap.createdAt), updatedAt: new Date(snap.updatedAt) };
}

/** A unique violation of idempotency_keys: another request committed the same key first. */
export function isIdempotencyKeyConflict(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, table } = error as { code?: unknown; table?: unknown };
  if (code === '23505') return table === 'idempotency_keys';
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && error.message.includes('idempotency_keys.');
}
