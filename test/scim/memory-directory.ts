// An in-memory directory behind the SCIM ports, for the protocol's unit and API tests only: it
// keeps the rules the real adapters get from UsersService and GroupsService (unique emails and
// display names case-insensitively, unique external ids, versions, members must be users,
// deleting a user leaves its groups). The real adapters are tested on SQLite and PostgreSQL
// (real.api.test.ts, over compose/scim.ts); the flows in flows.ts run unchanged against both.
import { caseFold } from '../../src/kit/case-fold.js';
import { newUuidV7 as newId } from '../../src/kit/uuid.js';
import {
  DirectoryConflictError,
  DirectoryInvalidError,
  DirectoryNotFoundError,
  DirectoryVersionMismatchError,
  type DirectoryGroup,
  type DirectoryGroupDraft,
  type DirectoryGroups,
  type DirectoryUser,
  type DirectoryUserDraft,
  type DirectoryUsers,
  type FoundPage,
  type GroupQuery,
  type MemberDelta,
  type OffsetPage,
  type UserQuery,
} from '../../src/scim/ports.js';

const now = () => new Date().toISOString();

export class MemoryDirectory {
  readonly usersById = new Map<string, DirectoryUser>();
  readonly groupsById = new Map<string, DirectoryGroup>();
  readonly membersOf = new Map<string, Set<string>>();
  /** Every delta groups.update applied (a whole list as its difference), for tests that check members travel as deltas. */
  readonly deltas: MemberDelta[] = [];

  readonly users: DirectoryUsers = {
    create: async (draft) => {
      this.#checkUser(draft, undefined);
      const at = now();
      const user: DirectoryUser = { ...draft, id: newId(), version: 1, created_at: at, updated_at: at };
      this.usersById.set(user.id, user);
      return user;
    },
    get: async (id) => this.usersById.get(id),
    find: async (query, page) =>
      pageOf(
        [...this.usersById.values()].filter((u) => userMatches(u, query)),
        page,
      ),
    replace: async (id, draft, expectedVersion) => {
      const current = this.usersById.get(id);
      if (current === undefined) throw new DirectoryNotFoundError(`user ${id}`);
      if (expectedVersion !== undefined && current.version !== expectedVersion) throw new DirectoryVersionMismatchError(`user ${id}`);
      this.#checkUser(draft, id);
      const user: DirectoryUser = { ...current, ...draft, version: current.version + 1, updated_at: now() };
      this.usersById.set(id, user);
      return user;
    },
    delete: async (id, expectedVersion) => {
      const current = this.usersById.get(id);
      if (current === undefined) throw new DirectoryNotFoundError(`user ${id}`);
      if (expectedVersion !== undefined && current.version !== expectedVersion) throw new DirectoryVersionMismatchError(`user ${id}`);
      this.usersById.delete(id);
      for (const members of this.membersOf.values()) members.delete(id);
    },
  };

  readonly groups: DirectoryGroups = {
    create: async (draft, members) => {
      this.#checkGroup(draft, undefined);
      this.#checkMembers(members);
      const at = now();
      const group: DirectoryGroup = { ...draft, id: newId(), version: 1, created_at: at, updated_at: at };
      this.groupsById.set(group.id, group);
      this.membersOf.set(group.id, new Set(members));
      return group;
    },
    get: async (id) => this.groupsById.get(id),
    find: async (query, page) =>
      pageOf(
        [...this.groupsById.values()].filter((g) => this.#groupMatches(g, query)),
        page,
      ),
    members: async (id, page) => {
      const ids = [...(this.membersOf.get(id) ?? [])].sort();
      const from = page.after === undefined ? 0 : ids.findIndex((m) => m > page.after!);
      return from < 0 ? [] : ids.slice(from, from + page.limit);
    },
    update: async (id, change, wanted, expectedVersion) => {
      const current = this.groupsById.get(id);
      if (current === undefined) throw new DirectoryNotFoundError(`group ${id}`);
      if (expectedVersion !== undefined && current.version !== expectedVersion) throw new DirectoryVersionMismatchError(`group ${id}`);
      const next = { ...current, ...change };
      this.#checkGroup(next, id);
      const members = this.membersOf.get(id)!;
      // A whole list becomes its difference here, as the real directory computes it in its transaction.
      const delta =
        'exactly' in wanted
          ? { add: wanted.exactly.filter((m) => !members.has(m)), remove: [...members].filter((m) => !wanted.exactly.includes(m)) }
          : wanted;
      this.#checkMembers(delta.add);
      this.deltas.push(delta);
      for (const m of delta.remove) members.delete(m);
      for (const m of delta.add) members.add(m);
      const group: DirectoryGroup = { ...next, version: current.version + 1, updated_at: now() };
      this.groupsById.set(id, group);
      return group;
    },
    delete: async (id, expectedVersion) => {
      const current = this.groupsById.get(id);
      if (current === undefined) throw new DirectoryNotFoundError(`group ${id}`);
      if (expectedVersion !== undefined && current.version !== expectedVersion) throw new DirectoryVersionMismatchError(`group ${id}`);
      this.groupsById.delete(id);
      this.membersOf.delete(id);
    },
  };

  #checkUser(draft: DirectoryUserDraft, self: string | undefined): void {
    if (draft.name.trim() === '' || draft.name.length > 200) throw new DirectoryInvalidError('name must be 1 to 200 characters');
    for (const other of this.usersById.values()) {
      if (other.id === self) continue;
      if (caseFold(other.email) === caseFold(draft.email)) throw new DirectoryConflictError('email', draft.email);
      if (draft.external_id !== null && other.external_id === draft.external_id)
        throw new DirectoryConflictError('external_id', draft.external_id);
    }
  }

  #checkGroup(draft: DirectoryGroupDraft, self: string | undefined): void {
    for (const other of this.groupsById.values()) {
      if (other.id === self) continue;
      if (caseFold(other.display_name) === caseFold(draft.display_name))
        throw new DirectoryConflictError('display_name', draft.display_name);
      if (draft.external_id !== null && other.external_id === draft.external_id)
        throw new DirectoryConflictError('external_id', draft.external_id);
    }
  }

  #checkMembers(ids: readonly string[]): void {
    const unknown = ids.filter((id) => !this.usersById.has(id));
    if (unknown.length > 0) throw new DirectoryInvalidError(`not users: ${unknown.slice(0, 5).join(', ')}`);
  }

  #groupMatches(group: DirectoryGroup, query: GroupQuery): boolean {
    return (
      (query.id === undefined || group.id === query.id) &&
      (query.display_name === undefined || caseFold(group.display_name) === caseFold(query.display_name)) &&
      (query.external_id === undefined || group.external_id === query.external_id) &&
      (query.member === undefined || (this.membersOf.get(group.id)?.has(query.member) ?? false)) &&
      after(group.updated_at, query.modified_after)
    );
  }
}

function userMatches(user: DirectoryUser, query: UserQuery): boolean {
  return (
    (query.id === undefined || user.id === query.id) &&
    (query.email === undefined || caseFold(user.email) === caseFold(query.email)) &&
    (query.external_id === undefined || user.external_id === query.external_id) &&
    after(user.updated_at, query.modified_after)
  );
}

function after(at: string, bound: UserQuery['modified_after']): boolean {
  if (bound === undefined) return true;
  return bound.inclusive ? at >= bound.at : at > bound.at;
}

function pageOf<T extends { id: string }>(all: T[], page: OffsetPage): FoundPage<T> {
  all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { total: all.length, items: all.slice(page.offset, page.offset + page.limit) };
}
