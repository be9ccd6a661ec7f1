import {
  GroupExternalIdTakenError,
  GroupNameTakenError,
  GroupNotFoundError,
  GroupVersionMismatchError,
  MembersNotFoundError,
} from '../groups/errors.js';
import type { Group } from '../groups/model.js';
import type { GroupsService } from '../groups/service.js';
import type { ScimDirectory } from '../http/scim.routes.js';
import type { Cancellation } from '../kit/deadline.js';
import { ValidationError } from '../kit/errors.js';
import { isUuidV7 } from '../kit/uuid.js';
import {
  DirectoryConflictError,
  DirectoryInvalidError,
  DirectoryNotFoundError,
  DirectoryVersionMismatchError,
  type DirectoryCall,
  type DirectoryGroup,
  type DirectoryGroups,
  type DirectoryUser,
  type DirectoryUserDraft,
  type DirectoryUsers,
  type FoundPage,
  type GroupQuery,
  type OffsetPage,
  type UserQuery,
} from '../scim/ports.js';
import { EmailTakenError, ExternalIdTakenError, UserNotFoundError, VersionMismatchError } from '../users/errors.js';
import { foldKey, type User } from '../users/model.js';
import type { UsersService } from '../users/service.js';

/**
 * SCIM's directory ports (scim/ports.ts) over the users and groups services: the one place that
 * knows both capabilities. Every write is a service call (same rules, events and transaction as
 * the REST API); service errors become the port's errors here, once.
 */
export function scimDirectory(users: UsersService, groups: GroupsService): ScimDirectory {
  return { users: directoryUsers(users), groups: directoryGroups(groups) };
}

/** Group ids read per call when a filter walks a user's groups. */
const GROUPS_OF_PAGE = 500;

function directoryUsers(users: UsersService): DirectoryUsers {
  return {
    create: (draft, call) => mapped(async () => toDirectoryUser((await users.create(userInput(draft), undefined, ctxOf(call))).user)),
    get: async (id, call) => {
      const user = isUuidV7(id) ? await mapped(() => userById(users, id, call)) : undefined;
      return user === undefined ? undefined : toDirectoryUser(user);
    },
    find: (query, page, call) => mapped(() => findUsers(users, query, page, call)),
    replace: (id, draft, expectedVersion, call) =>
      mapped(async () => {
        if (!isUuidV7(id)) throw new DirectoryNotFoundError(`No user has id ${id}.`);
        return toDirectoryUser(await users.replace(id, userInput(draft), versions(expectedVersion), ctxOf(call)));
      }),
    delete: (id, expectedVersion, call) =>
      mapped(async () => {
        if (!isUuidV7(id)) throw new DirectoryNotFoundError(`No user has id ${id}.`);
        await users.delete(id, versions(expectedVersion), ctxOf(call));
      }),
  };
}

async function userById(users: UsersService, id: string, call: DirectoryCall): Promise<User | undefined> {
  try {
    return await users.get(id, ctxOf(call));
  } catch (error) {
    if (error instanceof UserNotFoundError) return undefined;
    throw error;
  }
}

/**
 * A filtered query is one index lookup (id, email key or external id: 0–1 users), its other
 * terms checked on that user; an unfiltered one is a positional page with the total.
 */
async function findUsers(users: UsersService, query: UserQuery, page: OffsetPage, call: DirectoryCall): Promise<FoundPage<DirectoryUser>> {
  let candidate: User | undefined;
  if (query.id !== undefined) {
    if (!isUuidV7(query.id)) return { total: 0, items: [] };
    candidate = await userById(users, query.id, call);
  } else if (query.email !== undefined) {
    candidate = (await users.list({ email: query.email, limit: 1 }, ctxOf(call))).users[0];
  } else if (query.external_id !== undefined) {
    candidate = await users.findByExternalId(query.external_id, ctxOf(call));
  } else if (query.modified_after !== undefined) {
    // The planner refuses a lower bound on its own (no index on updated_at); never scan for one.
    throw new DirectoryInvalidError('meta.lastModified needs an eq term beside it.');
  } else {
    const { total, users: items } = await users.page(page.offset, page.limit, ctxOf(call));
    return { total, items: items.map(toDirectoryUser) };
  }
  const matches = candidate !== undefined && userMatches(candidate, query);
  return onePage(matches ? toDirectoryUser(candidate!) : undefined, page);
}

function userMatches(user: User, query: UserQuery): boolean {
  return (
    (query.id === undefined || user.id === query.id) &&
    (query.email === undefined || foldKey(user.email) === foldKey(query.email)) &&
    (query.external_id === undefined || user.externalId === query.external_id) &&
    after(user.updatedAt, query.modified_after)
  );
}

function directoryGroups(groups: GroupsService): DirectoryGroups {
  return {
    create: (draft, members, call) =>
      mapped(async () => {
        const input = { display_name: draft.display_name, external_id: draft.external_id, member_ids: members };
        // No bound on the members: a provider may push a group with all of them at once.
        return toDirectoryGroup((await groups.create(input, ctxOf(call), null)).group);
      }),
    get: async (id, call) => {
      const group = isUuidV7(id) ? await mapped(() => groupById(groups, id, call)) : undefined;
      return group === undefined ? undefined : toDirectoryGroup(group);
    },
    find: (query, page, call) => mapped(() => findGroups(groups, query, page, call)),
    members: (id, page, call) =>
      mapped(async () => {
        if (!isUuidV7(id)) throw new DirectoryNotFoundError(`No group has id ${id}.`);
        return groups.memberIds(id, page.after, page.limit, ctxOf(call));
      }),
    update: (id, change, members, expectedVersion, call) =>
      mapped(async () => {
        if (!isUuidV7(id)) throw new DirectoryNotFoundError(`No group has id ${id}.`);
        const patch: Record<string, unknown> = {};
        if (change.display_name !== undefined) patch.display_name = change.display_name;
        if (change.external_id !== undefined) patch.external_id = change.external_id;
        // One call, one transaction, one version: the fields, then the members (removals before
        // additions, or the whole list's difference, computed under the group's lock). Not
        // replace(): it would also reset `attributes`, the REST caller's data SCIM never sends.
        const { group } = await groups.modify(
          id,
          {
            ...(Object.keys(patch).length === 0 ? {} : { patch }),
            ...('exactly' in members ? { members: members.exactly } : { add: members.add, remove: members.remove }),
          },
          versions(expectedVersion),
          ctxOf(call),
          null,
        );
        return toDirectoryGroup(group);
      }),
    delete: (id, expectedVersion, call) =>
      mapped(async () => {
        if (!isUuidV7(id)) throw new DirectoryNotFoundError(`No group has id ${id}.`);
        await groups.delete(id, versions(expectedVersion), ctxOf(call));
      }),
  };
}

async function groupById(groups: GroupsService, id: string, call: DirectoryCall): Promise<Group | undefined> {
  try {
    return await groups.get(id, ctxOf(call));
  } catch (error) {
    if (error instanceof GroupNotFoundError) return undefined;
    throw error;
  }
}

/**
 * id, display name and external id are unique-index lookups; `member` walks that user's groups
 * by cursor (a user is in few groups), counting the matches and keeping the page's.
 */
async function findGroups(
  groups: GroupsService,
  query: GroupQuery,
  page: OffsetPage,
  call: DirectoryCall,
): Promise<FoundPage<DirectoryGroup>> {
  let candidate: Group | undefined;
  if (query.id !== undefined) {
    if (!isUuidV7(query.id)) return { total: 0, items: [] };
    candidate = await groupById(groups, query.id, call);
  } else if (query.display_name !== undefined) {
    candidate = await groups.findByDisplayName(query.display_name, ctxOf(call));
  } else if (query.external_id !== undefined) {
    candidate = await groups.findByExternalId(query.external_id, ctxOf(call));
  } else if (query.member !== undefined) {
    return groupsOfMember(groups, query.member, query, page, call);
  } else if (query.modified_after !== undefined) {
    throw new DirectoryInvalidError('meta.lastModified needs an eq term beside it.');
  } else {
    const { total, groups: items } = await groups.page(page.offset, page.limit, ctxOf(call));
    return { total, items: items.map(toDirectoryGroup) };
  }
  if (candidate === undefined || !groupMatches(candidate, query)) return onePage<DirectoryGroup>(undefined, page);
  if (query.member !== undefined && !(await isMember(groups, candidate.id, query.member, call)))
    return onePage<DirectoryGroup>(undefined, page);
  return onePage(toDirectoryGroup(candidate), page);
}

async function groupsOfMember(
  groups: GroupsService,
  member: string,
  query: GroupQuery,
  page: OffsetPage,
  call: DirectoryCall,
): Promise<FoundPage<DirectoryGroup>> {
  if (!isUuidV7(member)) return { total: 0, items: [] };
  let total = 0;
  const items: DirectoryGroup[] = [];
  let cursor: string | undefined;
  do {
    let result;
    try {
      result = await groups.groupsOf(member, { limit: GROUPS_OF_PAGE, cursor }, ctxOf(call));
    } catch (error) {
      if (error instanceof UserNotFoundError) return { total: 0, items: [] };
      throw error;
    }
    for (const group of result.items) {
      if (!groupMatches(group, query)) continue;
      if (total >= page.offset && items.length < page.limit) items.push(toDirectoryGroup(group));
      total++;
    }
    cursor = result.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { total, items };
}

/** Whether the user is in the group: a walk of the user's groups (a user is in fewer groups than a group has members). */
async function isMember(groups: GroupsService, groupId: string, userId: string, call: DirectoryCall): Promise<boolean> {
  if (!isUuidV7(userId)) return false;
  const found = await groupsOfMember(groups, userId, { id: groupId }, { offset: 0, limit: 1 }, call);
  return found.total > 0;
}

function groupMatches(group: Group, query: GroupQuery): boolean {
  return (
    (query.id === undefined || group.id === query.id) &&
    (query.display_name === undefined || foldKey(group.displayName) === foldKey(query.display_name)) &&
    (query.external_id === undefined || group.externalId === query.external_id) &&
    after(group.updatedAt, query.modified_after)
  );
}

function onePage<T>(item: T | undefined, page: OffsetPage): FoundPage<T> {
  if (item === undefined) return { total: 0, items: [] };
  return { total: 1, items: page.offset === 0 && page.limit > 0 ? [item] : [] };
}

function after(at: Date, bound: UserQuery['modified_after']): boolean {
  if (bound === undefined) return true;
  const limit = Date.parse(bound.at);
  return bound.inclusive ? at.getTime() >= limit : at.getTime() > limit;
}

/** The services' request context: the deadline, and who asked for the events. */
function ctxOf(call: DirectoryCall): { signal: Cancellation; actor: string | undefined; requestId: string | undefined } {
  return { signal: call.signal, actor: call.actor, requestId: call.requestId };
}

function versions(expected: number | undefined): readonly number[] | undefined {
  return expected === undefined ? undefined : [expected];
}

function userInput(draft: DirectoryUserDraft) {
  return {
    email: draft.email,
    name: draft.name,
    given_name: draft.given_name,
    family_name: draft.family_name,
    active: draft.active,
    external_id: draft.external_id,
    profile: draft.profile,
  };
}

function toDirectoryUser(user: User): DirectoryUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    active: user.active,
    external_id: user.externalId,
    profile: user.profile,
    version: user.version,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

function toDirectoryGroup(group: Group): DirectoryGroup {
  return {
    id: group.id,
    display_name: group.displayName,
    external_id: group.externalId,
    version: group.version,
    created_at: group.createdAt.toISOString(),
    updated_at: group.updatedAt.toISOString(),
  };
}

/** The services' errors as the port's; anything else (an outage, a bug) passes as it is. */
async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw portError(error);
  }
}

function portError(error: unknown): unknown {
  const options = { cause: error };
  if (!(error instanceof Error)) return error;
  if (error instanceof UserNotFoundError || error instanceof GroupNotFoundError) return new DirectoryNotFoundError(error.message, options);
  if (error instanceof EmailTakenError) return new DirectoryConflictError('email', error.message, options);
  if (error instanceof ExternalIdTakenError || error instanceof GroupExternalIdTakenError) {
    return new DirectoryConflictError('external_id', error.message, options);
  }
  if (error instanceof GroupNameTakenError) return new DirectoryConflictError('display_name', error.message, options);
  if (error instanceof VersionMismatchError || error instanceof GroupVersionMismatchError) {
    return new DirectoryVersionMismatchError(error.message, options);
  }
  if (error instanceof MembersNotFoundError) return new DirectoryInvalidError(`Members must be users: ${error.message}`, options);
  if (error instanceof ValidationError) {
    const details = error.errors.map((e) => `${e.pointer || '/'} ${e.message}`).join('; ');
    return new DirectoryInvalidError(`${error.message} ${details}`.trim(), options);
  }
  return error;
}
