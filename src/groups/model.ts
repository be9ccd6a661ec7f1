import { FieldErrors, ValidationError, type FieldError } from '../kit/errors.js';
import { isUuidV7 } from '../kit/uuid.js';
import { foldKey } from '../kit/fold-key.js';
import {
  field,
  isPlainObject,
  isStorableText,
  parseAttributes,
  parseUserId,
  parseUserName,
  type Attributes,
  type Parsed,
  type UserId,
} from '../users/model.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A UUIDv7 string, as user ids: time-ordered for keyset pages, not guessable. */
export type GroupId = Brand<string, 'GroupId'>;
/** Trimmed, NFC-normalised, 1–200 code points, no control characters: a user name's rules. */
export type DisplayName = Brand<string, 'DisplayName'>;
/** The identity provider's id for the group: 1–255 characters, kept exactly as sent, compared exactly. */
export type ExternalId = Brand<string, 'ExternalId'>;

export interface Group {
  readonly id: GroupId;
  readonly displayName: DisplayName;
  readonly externalId: ExternalId | null;
  readonly attributes: Attributes;
  /** Kept by every membership change in its own transaction, so reading it never counts 100,000 rows. */
  readonly memberCount: number;
  /** Starts at 1 and grows by one on every committed change, members included: the ETag. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The public JSON form of a group: the API's representation and the snapshot in its events. */
export interface GroupDocument {
  readonly id: string;
  readonly display_name: string;
  readonly external_id: string | null;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly member_count: number;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export function toGroupDocument(group: Group): GroupDocument {
  return {
    id: group.id,
    display_name: group.displayName,
    external_id: group.externalId,
    attributes: group.attributes,
    member_count: group.memberCount,
    version: group.version,
    created_at: group.createdAt.toISOString(),
    updated_at: group.updatedAt.toISOString(),
  };
}

/** What a caller may set when creating a group, already parsed. */
export interface NewGroup {
  readonly displayName: DisplayName;
  readonly externalId: ExternalId | null;
  readonly attributes: Attributes;
  /** Distinct, in the order first given. */
  readonly memberIds: readonly UserId[];
}

export const EXTERNAL_ID_MAX_LENGTH = 255;
/** Members one REST request may add or remove; a SCIM replace may carry more (the service takes any count). */
export const MEMBER_BATCH_MAX = 1000;
const CONTROL_CHARS = /[\p{Cc}\u2028\u2029]/u;

export function parseGroupId(input: string): Parsed<GroupId> {
  return isUuidV7(input) ? { ok: true, value: input as GroupId } : { ok: false, message: 'must be a group id (a lower-case UUIDv7)' };
}

export function parseDisplayName(input: unknown): Parsed<DisplayName> {
  return parseUserName(input) as Parsed<string> as Parsed<DisplayName>;
}

/** The key display names are unique under (display_name_key), the same fold as emails'. */
export function displayNameKey(name: string): string {
  return foldKey(name);
}

/** Not trimmed nor folded: providers match it byte for byte. */
export function parseExternalId(input: unknown): Parsed<ExternalId> {
  if (typeof input !== 'string') return { ok: false, message: 'must be a string' };
  if (input.length === 0) return { ok: false, message: 'must not be empty' };
  if (input.length > EXTERNAL_ID_MAX_LENGTH) return { ok: false, message: `must be at most ${EXTERNAL_ID_MAX_LENGTH} characters` };
  if (!isStorableText(input) || CONTROL_CHARS.test(input)) return { ok: false, message: 'must be text without control characters' };
  return { ok: true, value: input as ExternalId };
}

/**
 * A list of user ids: each a user id, repeats dropped (adding or removing one twice is once).
 * `max` bounds one request; errors point at `/<name>/<index>`.
 */
export function parseMemberIds(errors: FieldErrors, name: string, input: unknown, max: number | undefined): UserId[] {
  if (!Array.isArray(input)) {
    errors.add(`/${name}`, 'must be an array of user ids');
    return [];
  }
  if (max !== undefined && input.length > max) {
    errors.add(`/${name}`, `must hold at most ${max} user ids`);
    return [];
  }
  const seen = new Set<string>();
  const ids: UserId[] = [];
  input.forEach((item: unknown, i) => {
    const parsed = typeof item === 'string' ? parseUserId(item) : ({ ok: false, message: 'must be a user id' } as const);
    if (!parsed.ok) errors.add(`/${name}/${i}`, parsed.message);
    else if (!seen.has(parsed.value)) {
      seen.add(parsed.value);
      ids.push(parsed.value);
    }
  });
  return ids;
}

/**
 * Parses a create request, reporting every broken rule together.
 * @throws ValidationError
 */
export function parseNewGroup(
  input: { display_name: unknown; external_id?: unknown; attributes?: unknown; member_ids?: unknown },
  maxMembers: number | undefined,
): NewGroup {
  const errors = new FieldErrors();
  const displayName = field(errors, 'display_name', parseDisplayName(input.display_name));
  const externalId =
    input.external_id === undefined || input.external_id === null ? null : field(errors, 'external_id', parseExternalId(input.external_id));
  const attributes = field(errors, 'attributes', parseAttributes(input.attributes ?? {}));
  const memberIds = input.member_ids === undefined ? [] : parseMemberIds(errors, 'member_ids', input.member_ids, maxMembers);
  errors.throwIfAny();
  return { displayName: displayName!, externalId: externalId ?? null, attributes: attributes!, memberIds };
}

/** The rule violations of a create request, without throwing: for merging with schema errors. */
export function newGroupFieldErrors(input: unknown): FieldError[] {
  if (!isPlainObject(input)) return [];
  try {
    parseNewGroup(input as { display_name: unknown }, MEMBER_BATCH_MAX);
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return [...error.errors];
    throw error;
  }
}
