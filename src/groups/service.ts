import { createHash } from 'node:crypto';
import type { CursorCodec } from '../kit/cursor.js';
import { InvalidCursorError } from '../kit/cursor.js';
import { FieldErrors, ValidationError } from '../kit/errors.js';
import { lazy } from '../kit/lazy.js';
import { applyMergePatch } from '../kit/merge-patch.js';
import { abortSignalOf, type Cancellation } from '../kit/deadline.js';
import { offsetPage } from '../kit/offset-page.js';
import { DEFAULT_PAGE_POSITIONS, PagePositions } from '../kit/page-positions.js';
import { inSpan } from '../kit/trace.js';
import type { EventContext, NewEvent } from '../events/model.js';
import { compareKeys, prefixRange, type KeyRange } from '../users/search.js';
import { field, isPlainObject, parseAttributes, parseUserId, type UserId } from '../users/model.js';
import { IdempotencyKeyReusedError, IdempotencyKeyTakenError, UserNotFoundError } from '../users/errors.js';
import { GroupNotFoundError, GroupVersionMismatchError, NotAMemberError } from './errors.js';
import { changedGroupFields, groupCreated, groupDeleted, groupUpdated, membershipEvents } from './events.js';
import {
  MEMBER_BATCH_MAX,
  displayNameKey,
  parseDisplayName,
  parseExternalId,
  parseGroupId,
  parseMemberIds,
  parseNewGroup,
  type Group,
  type GroupId,
} from './model.js';

/** A member as a page of members shows it: the user's id, email and name, and when it joined. */
export interface Member {
  readonly userId: UserId;
  readonly email: string;
  readonly name: string;
  readonly addedAt: Date;
}

/** Name keys from `from` (itself included or not) up to, not including, `below` (undefined: no end). */
export interface NameKeyRange {
  readonly from: string;
  readonly inclusive: boolean;
  readonly below: string | undefined;
}

/** What one change does to the members; `replace` (the whole list, PUT) excludes `add` and `remove`. */
export interface MembersChange {
  readonly add?: readonly UserId[];
  readonly remove?: readonly UserId[];
  readonly replace?: readonly UserId[];
}

/** What a change did to the members, as the store found it: ids that were already so are left out. */
export interface MembersOutcome {
  readonly added: readonly UserId[];
  readonly removed: readonly UserId[];
  /** The member count after the change. */
  readonly memberCount: number;
}

/** A remembered `Idempotency-Key` of a group creation (the same table and rules as users'). */
export interface GroupIdempotency {
  readonly scope: string;
  readonly key: string;
  /** SHA-256 of the canonical request, so a reuse with another body is detected. */
  readonly fingerprint: string;
  readonly group: Group;
  readonly expiresAt: Date;
}

/** What the store writes for a change: the group's row and the events. */
export interface GroupWrite {
  readonly group: Group;
  readonly events: readonly NewEvent[];
}

/**
 * The storage port the groups capability owns. Adapters: SqliteGroupStore and
 * PostgresGroupStore (compose/groups.ts picks). Every method is atomic.
 */
export interface GroupStore {
  /**
   * Inserts the group, its members, the events and, when given, the idempotency record in one transaction.
   * @throws GroupNameTakenError, GroupExternalIdTakenError, MembersNotFoundError, IdempotencyKeyTakenError (nothing written)
   */
  create(
    group: Group,
    memberIds: readonly UserId[],
    events: readonly NewEvent[],
    idempotency: GroupIdempotency | undefined,
    signal?: Cancellation,
  ): Promise<void>;
  /** The unexpired record of a key, if any. */
  findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<GroupIdempotency | undefined>;
  get(id: GroupId, signal?: Cancellation): Promise<Group | undefined>;
  /** By `display_name_key` (foldKey() of the name): at most one. */
  findByNameKey(key: string, signal?: Cancellation): Promise<Group | undefined>;
  findByExternalId(externalId: string, signal?: Cancellation): Promise<Group | undefined>;
  /** Groups with id > afterId in id order, at most `limit`. */
  list(afterId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[]>;
  /** Walks at most `n` group ids after `afterId` in id order: how many it passed and the last (kit/offset-page.ts). */
  skip(afterId: GroupId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: GroupId | undefined }>;
  /** Groups whose name key lies in the range, in key order (the key is unique, so it is the position), at most `limit`. */
  search(range: NameKeyRange, limit: number, signal?: Cancellation): Promise<Group[]>;
  /**
   * One change under the group's lock, in one transaction: reads the group, lets `edit` veto or
   * change its fields, checks that every user to add exists, applies `members`, and hands what
   * happened to `finish`, whose answer (the row and the events) is written; undefined writes
   * nothing. Concurrent changes of one group are serialised, so none is lost.
   * @throws GroupNotFoundError, MembersNotFoundError, GroupNameTakenError, GroupExternalIdTakenError, or what `edit` throws
   */
  change(
    id: GroupId,
    members: MembersChange,
    edit: (current: Group) => Group,
    finish: (before: Group, edited: Group, outcome: MembersOutcome) => GroupWrite | undefined,
    signal?: Cancellation,
  ): Promise<{ group: Group; outcome: MembersOutcome }>;
  /**
   * Reads the group, lets `check` veto, deletes it with its memberships, writes the event.
   * @throws GroupNotFoundError, or what `check` throws
   */
  delete(id: GroupId, check: (current: Group) => void, describe: (deleted: Group) => NewEvent, signal?: Cancellation): Promise<void>;
  /** Members with user id > afterUserId in user id order; undefined when the group does not exist. */
  members(id: GroupId, afterUserId: UserId | undefined, limit: number, signal?: Cancellation): Promise<Member[] | undefined>;
  /** The groups of a user with id > afterGroupId in id order; undefined when the user does not exist. */
  groupsOf(userId: UserId, afterGroupId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[] | undefined>;
}

export interface GroupsServiceOptions {
  readonly store: GroupStore;
  readonly cursors: CursorCodec;
  readonly newId: () => string;
  readonly now?: () => Date;
  /** How long an Idempotency-Key is remembered (users' setting). */
  readonly idempotencyTtlMs?: number;
  /** Where page() calls ended (default: DEFAULT_PAGE_POSITIONS); tests give their own. */
  readonly pagePositions?: PagePositions<GroupId>;
}

export interface ListGroupsInput {
  readonly limit: number;
  readonly cursor?: string | undefined;
  /** A case-insensitive prefix of the display name: results in key order. */
  readonly q?: string | undefined;
  readonly externalId?: string | undefined;
  /** The exact display name, case-insensitively (foldKey()). */
  readonly displayName?: string | undefined;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** Who is asking, for which request, and under which deadline. */
export interface GroupContext extends EventContext {
  readonly signal?: Cancellation | undefined;
}

/** A creation that may be retried: the key, and the caller it belongs to (keys of two callers never collide). */
export interface CreateContext extends GroupContext {
  readonly idempotencyKey?: string | undefined;
  readonly idempotencyScope?: string | undefined;
}

/** Groups' keys live beside users' in one table: a prefix keeps a key used for both apart. */
const IDEMPOTENCY_SCOPE_PREFIX = 'groups:';

/** Use cases of the groups capability (REST and, later, SCIM /Groups). Knows nothing of HTTP or SQL. */
export class GroupsService {
  readonly #store: GroupStore;
  readonly #cursors: CursorCodec;
  readonly #newId: () => string;
  readonly #now: () => Date;
  readonly #idempotencyTtlMs: number;
  readonly #positions: PagePositions<GroupId>;

  constructor(options: GroupsServiceOptions) {
    this.#store = options.store;
    this.#cursors = options.cursors;
    this.#newId = options.newId;
    this.#now = options.now ?? (() => new Date());
    this.#idempotencyTtlMs = options.idempotencyTtlMs ?? 24 * 3_600_000;
    this.#positions = options.pagePositions ?? new PagePositions(DEFAULT_PAGE_POSITIONS);
  }

  /**
   * Creates a group with its first members (any number: `maxMembers` is the caller's bound, the
   * REST route's MEMBER_BATCH_MAX; null: no bound). Events: group.created, then group.members_added in chunks.
   * @throws ValidationError, GroupNameTakenError, GroupExternalIdTakenError, MembersNotFoundError
   */
  async create(
    input: { display_name: unknown; external_id?: unknown; attributes?: unknown; member_ids?: unknown },
    ctx: CreateContext = {},
    maxMembers: number | null = MEMBER_BATCH_MAX,
  ): Promise<{ group: Group; replayed: boolean }> {
    return inSpan('groups.create', () => this.#create(this.#newId() as GroupId, input, ctx, maxMembers));
  }

  async #create(
    id: GroupId,
    input: { display_name: unknown; external_id?: unknown; attributes?: unknown; member_ids?: unknown },
    ctx: CreateContext,
    maxMembers: number | null,
  ): Promise<{ group: Group; replayed: boolean }> {
    const parsed = parseNewGroup(input, maxMembers ?? undefined);
    const now = this.#now();
    const group: Group = {
      id,
      displayName: parsed.displayName,
      externalId: parsed.externalId,
      attributes: parsed.attributes,
      memberCount: parsed.memberIds.length,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    const events = [
      groupCreated(this.#newId(), group, ctx),
      ...membershipEvents(this.#newId, 'group.members_added', group, parsed.memberIds, ctx, now),
    ];
    if (ctx.idempotencyKey === undefined) {
      await this.#store.create(group, parsed.memberIds, events, undefined, ctx.signal);
      return { group, replayed: false };
    }
    const scope = `${IDEMPOTENCY_SCOPE_PREFIX}${ctx.idempotencyScope ?? ''}`;
    const fingerprint = fingerprintOf(parsed);
    const earlier = await this.#replay(scope, ctx.idempotencyKey, fingerprint, now, ctx.signal);
    if (earlier) return earlier;
    const record = { scope, key: ctx.idempotencyKey, fingerprint, group, expiresAt: new Date(now.getTime() + this.#idempotencyTtlMs) };
    try {
      await this.#store.create(group, parsed.memberIds, events, record, ctx.signal);
      return { group, replayed: false };
    } catch (error) {
      if (!(error instanceof IdempotencyKeyTakenError)) throw error;
      const winner = await this.#replay(scope, ctx.idempotencyKey, fingerprint, now, ctx.signal);
      if (winner) return winner;
      throw error;
    }
  }

  async #replay(scope: string, key: string, fingerprint: string, now: Date, signal?: Cancellation) {
    const record = await this.#store.findIdempotency(scope, key, now, signal);
    if (!record) return undefined;
    if (record.fingerprint !== fingerprint) {
      throw new IdempotencyKeyReusedError('This Idempotency-Key was already used with a different request body.');
    }
    return { group: record.group, replayed: true };
  }

  /**
   * The group with this id becomes what is given (replace()), or is created with this id and
   * these members (any number): what `roster import --groups` does with each line of an export.
   * @throws ValidationError, GroupNameTakenError, GroupExternalIdTakenError, MembersNotFoundError
   */
  async upsert(
    id: string,
    input: { display_name: unknown; external_id?: unknown; attributes?: unknown; member_ids?: unknown },
    ctx: GroupContext = {},
  ): Promise<{ group: Group; created: boolean }> {
    const groupId = requireGroupId(id);
    if ((await this.#store.get(groupId, ctx.signal)) !== undefined)
      return { group: await this.replace(id, input, undefined, ctx), created: false };
    return { group: (await this.#create(groupId, input, ctx, null)).group, created: true };
  }

  /** @throws ValidationError (bad id), GroupNotFoundError */
  async get(id: string, ctx: GroupContext = {}): Promise<Group> {
    return inSpan('groups.get', async () => {
      const group = await this.#store.get(requireGroupId(id), ctx.signal);
      if (!group) throw notFound(id);
      return group;
    });
  }

  /** The group whose display name folds to the same key as `name`, if any (SCIM `displayName eq`). */
  async findByDisplayName(name: string, ctx: GroupContext = {}): Promise<Group | undefined> {
    return this.#store.findByNameKey(displayNameKey(name), ctx.signal);
  }

  /** The group with exactly this external id, if any (SCIM `externalId eq`). */
  async findByExternalId(externalId: string, ctx: GroupContext = {}): Promise<Group | undefined> {
    return this.#store.findByExternalId(externalId, ctx.signal);
  }

  /**
   * One page: by display_name or external_id (at most one group, the other filters checked on
   * it), by q alone in key order (a range of the unique name key), else in id order. The cursor
   * is bound to the filters it was issued with.
   */
  async list(input: ListGroupsInput, ctx: GroupContext = {}): Promise<Page<Group>> {
    return inSpan('groups.list', async () => {
      const nameKey = input.displayName === undefined ? undefined : displayNameKey(input.displayName);
      const prefix = input.q === undefined ? undefined : displayNameKey(input.q);
      const filterTag = lazy(() => tagOf({ nameKey, prefix, externalId: input.externalId }));
      const cursor = input.cursor === undefined ? undefined : this.#cursors.decode(input.cursor);
      if (cursor !== undefined && cursor.filter !== filterTag()) throw invalidCursor();
      if (nameKey !== undefined || input.externalId !== undefined) {
        if (cursor !== undefined) throw invalidCursor();
        const found =
          input.externalId !== undefined
            ? await this.#store.findByExternalId(input.externalId, ctx.signal)
            : await this.#store.findByNameKey(nameKey!, ctx.signal);
        const keep =
          found !== undefined &&
          (nameKey === undefined || displayNameKey(found.displayName) === nameKey) &&
          (prefix === undefined || displayNameKey(found.displayName).startsWith(prefix));
        return { items: keep ? [found] : [], nextCursor: null };
      }
      if (prefix !== undefined) {
        if (!prefix.isWellFormed()) return { items: [], nextCursor: null };
        return this.#search(prefixRange(prefix), input.limit, cursor, filterTag, ctx);
      }
      const afterId = cursor === undefined ? undefined : cursorGroupId(cursor);
      const rows = await this.#store.list(afterId, input.limit + 1, ctx.signal);
      return this.#page(rows, input.limit, (last) => ({ after: last.id, filter: filterTag() }));
    });
  }

  async #search(range: KeyRange, limit: number, cursor: Record<string, string> | undefined, filterTag: () => string, ctx: GroupContext) {
    let after = '';
    if (cursor !== undefined) {
      after = cursor.key ?? '';
      if (compareKeys(after, range.from) < 0 || (range.below !== undefined && compareKeys(after, range.below) >= 0)) throw invalidCursor();
    }
    // A first page includes a name equal to the prefix; a later one starts after the last key it showed.
    const from = cursor === undefined ? { from: range.from, inclusive: true } : { from: after, inclusive: false };
    const rows = await this.#store.search({ ...from, below: range.below }, limit + 1, ctx.signal);
    return this.#page(rows, limit, (last) => ({ key: displayNameKey(last.displayName), filter: filterTag() }));
  }

  #page(rows: Group[], limit: number, position: (last: Group) => Record<string, string>): Page<Group> {
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? this.#cursors.encode(position(last)) : null };
  }

  /** Groups by position in id order and how many there are (SCIM startIndex paging; positions remembered as UsersService.page() does). */
  async page(offset: number, limit: number, ctx: GroupContext = {}): Promise<{ total: number; groups: Group[] }> {
    return inSpan('groups.page', async () => {
      const { total, items } = await offsetPage<GroupId, Group>(
        {
          skip: (after, n, signal) => this.#store.skip(after, n, signal),
          list: (after, n, signal) => this.#store.list(after, n, signal),
          idOf: (group) => group.id,
          chunk: 10_000,
        },
        offset,
        limit,
        abortSignalOf(ctx.signal),
        { positions: this.#positions, scope: 'groups by id', rememberTotalAbove: 10_000 },
      );
      return { total, groups: items };
    });
  }

  /**
   * Member user ids after `afterUserId`, in id order, at most `limit`: a plain keyset page for
   * callers that keep their own position (SCIM reads a whole membership this way).
   * @throws ValidationError (bad ids), GroupNotFoundError
   */
  async memberIds(id: string, afterUserId: string | undefined, limit: number, ctx: GroupContext = {}): Promise<UserId[]> {
    const after = afterUserId === undefined ? undefined : parseUserId(afterUserId);
    if (after !== undefined && !after.ok) throw new ValidationError([{ pointer: '/after', message: after.message }], 'Bad position.');
    const rows = await this.#store.members(requireGroupId(id), after?.value, limit, ctx.signal);
    if (rows === undefined) throw notFound(id);
    return rows.map((m) => m.userId);
  }

  /**
   * Applies an RFC 7396 merge patch to display_name, external_id (null removes it) and attributes.
   * @throws ValidationError, GroupNotFoundError, GroupVersionMismatchError, GroupNameTakenError, GroupExternalIdTakenError
   */
  async update(id: string, patch: unknown, ifMatch: readonly number[] | undefined, ctx: GroupContext = {}): Promise<Group> {
    return inSpan('groups.update', async () => {
      const { group } = await this.#change(id, {}, ifMatch, (current) => applyGroupPatch(current, patch), ctx);
      return group;
    });
  }

  /**
   * PUT semantics (SCIM replace): the display name, the external id (absent: removed), the
   * attributes and the whole member list become what is given. Events: group.updated when a field
   * changed, and the members that came and went.
   */
  async replace(
    id: string,
    input: { display_name: unknown; external_id?: unknown; attributes?: unknown; member_ids?: unknown },
    ifMatch: readonly number[] | undefined,
    ctx: GroupContext = {},
  ): Promise<Group> {
    return inSpan('groups.replace', async () => {
      const parsed = parseNewGroup(input, undefined);
      const edit = (current: Group): Group => {
        const same =
          current.displayName === parsed.displayName &&
          current.externalId === parsed.externalId &&
          JSON.stringify(current.attributes) === JSON.stringify(parsed.attributes);
        return same
          ? current
          : { ...current, displayName: parsed.displayName, externalId: parsed.externalId, attributes: parsed.attributes };
      };
      const { group } = await this.#change(id, { replace: parsed.memberIds }, ifMatch, edit, ctx);
      return group;
    });
  }

  /**
   * Adds users (ids already members are no-ops). All or nothing: an unknown user id fails the
   * batch with every unknown id listed. `maxMembers` bounds one call (REST: 1,000; null: no bound, as a SCIM PATCH).
   * @throws ValidationError, GroupNotFoundError, MembersNotFoundError, GroupVersionMismatchError
   */
  async addMembers(
    id: string,
    userIds: unknown,
    ifMatch: readonly number[] | undefined,
    ctx: GroupContext = {},
    maxMembers: number | null = MEMBER_BATCH_MAX,
  ): Promise<{ group: Group; added: readonly UserId[] }> {
    return inSpan('groups.add_members', async () => {
      const ids = requireMemberIds(userIds, maxMembers ?? undefined);
      const { group, outcome } = await this.#change(id, { add: ids }, ifMatch, (current) => current, ctx);
      return { group, added: outcome.added };
    });
  }

  /** Removes users; ids that are not members are no-ops. @throws ValidationError, GroupNotFoundError, GroupVersionMismatchError */
  async removeMembers(
    id: string,
    userIds: unknown,
    ifMatch: readonly number[] | undefined,
    ctx: GroupContext = {},
    maxMembers: number | null = MEMBER_BATCH_MAX,
  ): Promise<{ group: Group; removed: readonly UserId[] }> {
    return inSpan('groups.remove_members', async () => {
      const ids = requireMemberIds(userIds, maxMembers ?? undefined);
      const { group, outcome } = await this.#change(id, { remove: ids }, ifMatch, (current) => current, ctx);
      return { group, removed: outcome.removed };
    });
  }

  /**
   * Several changes in one transaction, one version more (a SCIM PATCH with several operations,
   * a SCIM PUT): a merge patch of the fields, and either users to add (all must exist) and users
   * to remove, removals before additions, or `members`, the exact list the members become (its
   * difference computed under the group's lock). Nothing changed: same version, no event.
   * @throws ValidationError, GroupNotFoundError, MembersNotFoundError, GroupVersionMismatchError, GroupNameTakenError, GroupExternalIdTakenError
   */
  async modify(
    id: string,
    change: { readonly patch?: unknown; readonly add?: unknown; readonly remove?: unknown; readonly members?: unknown },
    ifMatch: readonly number[] | undefined,
    ctx: GroupContext = {},
    maxMembers: number | null = null,
  ): Promise<{ group: Group; added: readonly UserId[]; removed: readonly UserId[] }> {
    return inSpan('groups.modify', async () => {
      const edit = (current: Group) => (change.patch === undefined ? current : applyGroupPatch(current, change.patch));
      const { group, outcome } = await this.#change(id, membersChangeOf(change, maxMembers ?? undefined), ifMatch, edit, ctx);
      return { group, added: outcome.added, removed: outcome.removed };
    });
  }

  /** Removes one member. @throws ValidationError, GroupNotFoundError, NotAMemberError, GroupVersionMismatchError */
  async removeMember(id: string, userId: string, ifMatch: readonly number[] | undefined, ctx: GroupContext = {}): Promise<Group> {
    const parsed = parseUserId(userId);
    if (!parsed.ok) throw new ValidationError([{ pointer: '/user_id', message: parsed.message }], 'The user id is malformed.');
    const { group, outcome } = await this.#change(id, { remove: [parsed.value] }, ifMatch, (current) => current, ctx);
    if (outcome.removed.length === 0) throw new NotAMemberError(`User ${userId} is not a member of group ${id}.`);
    return group;
  }

  /** @throws GroupNotFoundError, GroupVersionMismatchError */
  async delete(id: string, ifMatch: readonly number[] | undefined, ctx: GroupContext = {}): Promise<void> {
    await inSpan('groups.delete', () =>
      this.#store.delete(
        requireGroupId(id),
        (current) => checkVersion(current, ifMatch),
        (deleted) => groupDeleted(this.#newId(), deleted, ctx, this.#now()),
        ctx.signal,
      ),
    );
  }

  /** One page of members in user id order (keyset: a 100,000-member group reads page by page at the same cost). */
  async members(id: string, input: { limit: number; cursor?: string | undefined }, ctx: GroupContext = {}): Promise<Page<Member>> {
    return inSpan('groups.members', async () => {
      const groupId = requireGroupId(id);
      const filterTag = lazy(() => tagOf({ members: groupId }));
      const cursor = input.cursor === undefined ? undefined : this.#cursors.decode(input.cursor);
      if (cursor !== undefined && cursor.filter !== filterTag()) throw invalidCursor();
      const after = cursor === undefined ? undefined : cursorUserId(cursor);
      const rows = await this.#store.members(groupId, after, input.limit + 1, ctx.signal);
      if (rows === undefined) throw notFound(id);
      const items = rows.slice(0, input.limit);
      const last = items.at(-1);
      return {
        items,
        nextCursor: rows.length > input.limit && last ? this.#cursors.encode({ after: last.userId, filter: filterTag() }) : null,
      };
    });
  }

  /** One page of the groups a user belongs to, in group id order. @throws ValidationError, UserNotFoundError */
  async groupsOf(userId: string, input: { limit: number; cursor?: string | undefined }, ctx: GroupContext = {}): Promise<Page<Group>> {
    return inSpan('groups.groups_of', async () => {
      const parsed = parseUserId(userId);
      if (!parsed.ok) throw new ValidationError([{ pointer: '/id', message: parsed.message }], 'The user id is malformed.');
      const filterTag = lazy(() => tagOf({ groupsOf: parsed.value }));
      const cursor = input.cursor === undefined ? undefined : this.#cursors.decode(input.cursor);
      if (cursor !== undefined && cursor.filter !== filterTag()) throw invalidCursor();
      const after = cursor === undefined ? undefined : cursorGroupId(cursor);
      const rows = await this.#store.groupsOf(parsed.value, after, input.limit + 1, ctx.signal);
      if (rows === undefined) throw new UserNotFoundError(`No user has id ${userId}.`);
      return this.#page(rows, input.limit, (last) => ({ after: last.id, filter: filterTag() }));
    });
  }

  /** Every change goes through here: the version check, then the store's locked read-modify-write, then one version more. */
  async #change(
    id: string,
    members: MembersChange,
    ifMatch: readonly number[] | undefined,
    edit: (current: Group) => Group,
    ctx: GroupContext,
  ): Promise<{ group: Group; outcome: MembersOutcome }> {
    return this.#store.change(
      requireGroupId(id),
      members,
      (current) => {
        checkVersion(current, ifMatch);
        return edit(current);
      },
      (before, edited, outcome) => {
        const fieldsChanged = changedGroupFields(before, edited).length > 0;
        if (!fieldsChanged && outcome.added.length === 0 && outcome.removed.length === 0) return undefined;
        const now = this.#now();
        const group: Group = { ...edited, memberCount: outcome.memberCount, version: before.version + 1, updatedAt: now };
        const events: NewEvent[] = [];
        if (fieldsChanged) events.push(groupUpdated(this.#newId(), before, group, ctx));
        events.push(...membershipEvents(this.#newId, 'group.members_added', group, outcome.added, ctx, now));
        events.push(...membershipEvents(this.#newId, 'group.members_removed', group, outcome.removed, ctx, now));
        return { group, events };
      },
      ctx.signal,
    );
  }
}

const PATCHABLE = new Set(['display_name', 'external_id', 'attributes']);

/**
 * A merge patch on a group's own fields, every rule re-checked: display_name replaced (never
 * removed), external_id replaced or removed (null), attributes merged key by key.
 * @throws ValidationError listing every bad field
 */
export function applyGroupPatch(current: Group, patch: unknown): Group {
  const errors = new FieldErrors();
  if (!isPlainObject(patch)) {
    errors.add('', 'must be a JSON object');
    errors.throwIfAny();
    return current;
  }
  for (const key of Object.keys(patch))
    if (!PATCHABLE.has(key)) errors.add(`/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`, 'is not a field that can be changed');
  let next: Group = current;
  if ('display_name' in patch) {
    if (patch.display_name === null) errors.add('/display_name', 'cannot be removed');
    else {
      const name = field(errors, 'display_name', parseDisplayName(patch.display_name));
      if (name !== undefined) next = { ...next, displayName: name };
    }
  }
  if ('external_id' in patch) {
    if (patch.external_id === null) next = { ...next, externalId: null };
    else {
      const externalId = field(errors, 'external_id', parseExternalId(patch.external_id));
      if (externalId !== undefined) next = { ...next, externalId };
    }
  }
  if ('attributes' in patch) {
    const merged = patch.attributes === null ? {} : applyMergePatch(current.attributes, patch.attributes);
    const attributes = field(errors, 'attributes', parseAttributes(merged));
    if (attributes !== undefined) next = { ...next, attributes };
  }
  errors.throwIfAny();
  return changedGroupFields(current, next).length === 0 ? current : next;
}

/** modify()'s member fields as one store change; `members` (a whole list) excludes `add` and `remove`. */
function membersChangeOf(
  change: { readonly add?: unknown; readonly remove?: unknown; readonly members?: unknown },
  max: number | undefined,
) {
  if (change.members === undefined) {
    const add = change.add === undefined ? [] : requireMemberIds(change.add, max);
    const remove = change.remove === undefined ? [] : requireMemberIds(change.remove, max);
    return { add, remove };
  }
  if (change.add !== undefined || change.remove !== undefined) {
    throw new ValidationError(
      [{ pointer: '/members', message: 'excludes add and remove' }],
      'A whole member list cannot be combined with a delta.',
    );
  }
  const errors = new FieldErrors();
  const replace = parseMemberIds(errors, 'members', change.members, undefined);
  errors.throwIfAny();
  return { replace };
}

function requireMemberIds(input: unknown, max: number | undefined): UserId[] {
  const errors = new FieldErrors();
  const ids = parseMemberIds(errors, 'user_ids', input, max);
  errors.throwIfAny();
  return ids;
}

function checkVersion(current: Group, accepted: readonly number[] | undefined): void {
  if (accepted !== undefined && !accepted.includes(current.version)) {
    throw new GroupVersionMismatchError(`The group changed: it is at version ${current.version}, which If-Match does not name.`);
  }
}

function notFound(id: string): GroupNotFoundError {
  return new GroupNotFoundError(`No group has id ${id}.`);
}

function invalidCursor(): InvalidCursorError {
  return new InvalidCursorError('The cursor is not valid for this query.');
}

function cursorGroupId(cursor: Record<string, string>): GroupId {
  const parsed = parseGroupId(cursor.after ?? '');
  if (!parsed.ok) throw invalidCursor();
  return parsed.value;
}

function cursorUserId(cursor: Record<string, string>): UserId {
  const parsed = parseUserId(cursor.after ?? '');
  if (!parsed.ok) throw invalidCursor();
  return parsed.value;
}

function requireGroupId(id: string): GroupId {
  const parsed = parseGroupId(id);
  if (!parsed.ok) throw new ValidationError([{ pointer: '/id', message: parsed.message }], 'The group id is malformed.');
  return parsed.value;
}

/** SHA-256 of the parsed request as canonical JSON (sorted keys): field order never matters. */
function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * A cursor's filter tag: which query it belongs to, so a cursor cannot move to another. Lists
 * make it lazily (kit/lazy.ts): only a page with a cursor coming in or going out needs it.
 */
function tagOf(filters: Record<string, string | undefined>): string {
  const canonical = JSON.stringify(
    Object.entries(filters)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
