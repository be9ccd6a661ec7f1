import type { Cancellation } from '../kit/deadline.js';
import { AppError } from '../kit/errors.js';

/**
 * What the SCIM layer needs from the directory, in Roster's terms (not SCIM's): the composition
 * root adapts UsersService and GroupsService to these. Every write goes through those services,
 * so SCIM changes follow the REST API's rules and write the same events.
 */

/**
 * Who is asking and until when: the request's deadline, and what the directory writes into the
 * events of a change (the caller's actor, `key:<id>` or `jwt:<sub>`, and the request id), as
 * the REST API does.
 */
export interface DirectoryCall {
  /** The request's Deadline (read without making its AbortSignal, as users and groups do) or any AbortSignal. */
  readonly signal: Cancellation;
  readonly actor?: string | undefined;
  readonly requestId?: string | undefined;
}

/** One address, phone number or email of a user's profile (snake_case, as Roster stores it). */
export interface ProfileContact {
  readonly value?: string;
  readonly type?: string;
  readonly primary?: boolean;
  readonly display?: string;
}

export interface ProfileAddress {
  readonly formatted?: string;
  readonly street_address?: string;
  readonly locality?: string;
  readonly region?: string;
  readonly postal_code?: string;
  readonly country?: string;
  readonly type?: string;
  readonly primary?: boolean;
}

/** The provisioning attributes Roster keeps in a user's `profile` (absent keys: no value). */
export interface UserProfile {
  readonly title?: string;
  readonly department?: string;
  readonly organization?: string;
  readonly division?: string;
  readonly cost_center?: string;
  readonly employee_number?: string;
  readonly manager_id?: string;
  readonly nickname?: string;
  readonly user_type?: string;
  readonly preferred_language?: string;
  readonly locale?: string;
  readonly timezone?: string;
  readonly profile_url?: string;
  readonly formatted_name?: string;
  readonly middle_name?: string;
  readonly honorific_prefix?: string;
  readonly honorific_suffix?: string;
  readonly emails?: readonly ProfileContact[];
  readonly phone_numbers?: readonly ProfileContact[];
  readonly addresses?: readonly ProfileAddress[];
}

/** The fields of a user SCIM writes: all of them (SCIM PUT and PATCH results are whole users). */
export interface DirectoryUserDraft {
  readonly email: string;
  readonly name: string;
  readonly given_name: string | null;
  readonly family_name: string | null;
  readonly active: boolean;
  readonly external_id: string | null;
  readonly profile: UserProfile;
}

export interface DirectoryUser extends DirectoryUserDraft {
  readonly id: string;
  readonly version: number;
  /** ISO 8601 instants. */
  readonly created_at: string;
  readonly updated_at: string;
}

export interface DirectoryGroupDraft {
  readonly display_name: string;
  readonly external_id: string | null;
}

export interface DirectoryGroup extends DirectoryGroupDraft {
  readonly id: string;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

/**
 * A lookup the filter planner produced (scim/filter/plan.ts): every given field must match
 * (an `and`). Each field is one an index serves: `email` case-insensitively (Roster's email
 * key fold), `external_id` and `id` exactly, `display_name` case-insensitively,
 * `modified_after` on updated_at, `member` a group holding that user.
 */
export interface UserQuery {
  readonly id?: string;
  readonly email?: string;
  readonly external_id?: string;
  readonly modified_after?: { readonly at: string; readonly inclusive: boolean };
}

export interface GroupQuery {
  readonly id?: string;
  readonly display_name?: string;
  readonly external_id?: string;
  readonly member?: string;
  readonly modified_after?: { readonly at: string; readonly inclusive: boolean };
}

/** A page by position (SCIM's startIndex is 1-based; this offset is 0-based). Order: by id. */
export interface OffsetPage {
  readonly offset: number;
  readonly limit: number;
}

export interface FoundPage<T> {
  /** How many match in all (SCIM's totalResults). */
  readonly total: number;
  readonly items: readonly T[];
}

/** A membership change: ids to add and to remove. Adding a member already in, or removing one not in, is no change. */
export interface MemberDelta {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/**
 * The members a group must have after the change (PUT, PATCH `replace members`): the directory
 * computes the difference inside the change's transaction, under the group's lock, so a member
 * change committed just before is never partly undone by a list read outside it.
 */
export interface MemberList {
  readonly exactly: readonly string[];
}

export interface DirectoryUsers {
  create(draft: DirectoryUserDraft, call: DirectoryCall): Promise<DirectoryUser>;
  get(id: string, call: DirectoryCall): Promise<DirectoryUser | undefined>;
  find(query: UserQuery, page: OffsetPage, call: DirectoryCall): Promise<FoundPage<DirectoryUser>>;
  /** Replaces every SCIM-written field; `expectedVersion` given: only that version (else VersionMismatch). */
  replace(id: string, draft: DirectoryUserDraft, expectedVersion: number | undefined, call: DirectoryCall): Promise<DirectoryUser>;
  /** Deletes the user and its memberships. */
  delete(id: string, expectedVersion: number | undefined, call: DirectoryCall): Promise<void>;
}

export interface DirectoryGroups {
  /** Creates the group with these members (user ids). */
  create(draft: DirectoryGroupDraft, members: readonly string[], call: DirectoryCall): Promise<DirectoryGroup>;
  get(id: string, call: DirectoryCall): Promise<DirectoryGroup | undefined>;
  find(query: GroupQuery, page: OffsetPage, call: DirectoryCall): Promise<FoundPage<DirectoryGroup>>;
  /** One page of member ids in a stable order; `after` is the last id of the previous page. */
  members(id: string, page: { readonly after?: string; readonly limit: number }, call: DirectoryCall): Promise<readonly string[]>;
  /**
   * Changes the fields given and the membership (by a delta, or to exactly a list), in one
   * transaction. Without `expectedVersion`, concurrent changes are serialised and none is lost;
   * with it, VersionMismatch unless the group is at that version.
   */
  update(
    id: string,
    change: Partial<DirectoryGroupDraft>,
    members: MemberDelta | MemberList,
    expectedVersion: number | undefined,
    call: DirectoryCall,
  ): Promise<DirectoryGroup>;
  delete(id: string, expectedVersion: number | undefined, call: DirectoryCall): Promise<void>;
}

/** The errors an adapter turns its service's errors into; the SCIM layer maps them to SCIM errors. */
export class DirectoryNotFoundError extends AppError {
  readonly code = 'directory-not-found';
}

/** A unique field is taken by another record: SCIM 409 uniqueness. */
export class DirectoryConflictError extends AppError {
  readonly code = 'directory-conflict';
  constructor(
    readonly field: 'email' | 'external_id' | 'display_name',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The record is no longer at the expected version: SCIM 412 (or, without If-Match, retried). */
export class DirectoryVersionMismatchError extends AppError {
  readonly code = 'directory-version-mismatch';
}

/** The directory refused a value (its own rules: name length, email form, unknown member ids…): SCIM 400 invalidValue. */
export class DirectoryInvalidError extends AppError {
  readonly code = 'directory-invalid';
}
