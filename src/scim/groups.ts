import { checkIfMatch, directory, notFound, pinnedVersion } from './directory-errors.js';
import { parseFilter } from './filter/parse.js';
import { planGroupFilter } from './filter/plan.js';
import { groupDraftFromScim, groupToScim, memberIdsOf } from './mapping/group.js';
import { splitMemberOperations } from './patch/members.js';
import { applyPatch } from './patch/engine.js';
import { readPatchRequest } from './patch/operations.js';
import type { ScimPage } from './paging.js';
import type { DirectoryCall, DirectoryGroup, DirectoryGroupDraft, DirectoryGroups, MemberDelta, MemberList } from './ports.js';
import { keeps, project, type Projection } from './projection.js';
import { listResponse, renderResource } from './resources.js';
import { GROUP_RESOURCE } from './schema/definitions.js';
import { normaliseResource, type ScimDocument } from './schema/normalise.js';
import type { Rendered } from './users.js';

/** Member ids read per directory call when a whole membership is needed. */
const MEMBER_PAGE = 1000;

/**
 * The /Groups endpoint's use cases. Members never travel as a list read here and written back:
 * a PATCH hands the directory a delta (ids to add, ids to remove), a PUT or a cleared member
 * list the list wanted, whose difference the directory computes in the change's transaction;
 * so concurrent member changes of one group are serialised and none is partly undone, and a
 * 100,000-member group is never rewritten for one change.
 */
export class ScimGroups {
  constructor(private readonly groups: DirectoryGroups) {}

  async create(body: unknown, base: string, call: DirectoryCall): Promise<Rendered> {
    const doc = normaliseResource(GROUP_RESOURCE, body);
    const draft = groupDraftFromScim(doc);
    const members = memberIdsOf(doc);
    const group = await directory(() => this.groups.create(draft, members, call));
    return this.#render(group, members, base, {});
  }

  async get(id: string, base: string, projection: Projection, call: DirectoryCall): Promise<Rendered> {
    const group = await this.#current(id, call);
    const members = keeps(projection, 'members') ? await this.#members(id, call) : undefined;
    return this.#render(group, members, base, projection);
  }

  async list(filter: string | undefined, page: ScimPage, base: string, projection: Projection, call: DirectoryCall): Promise<ScimDocument> {
    const plan =
      filter === undefined || filter.trim() === '' ? { kind: 'query' as const, query: {} } : planGroupFilter(parseFilter(filter));
    if (plan.kind === 'none') return listResponse(0, page.startIndex, []);
    const found = await directory(() => this.groups.find(plan.query, { offset: page.startIndex - 1, limit: page.count }, call));
    const withMembers = keeps(projection, 'members');
    const resources: ScimDocument[] = [];
    for (const group of found.items) {
      const members = withMembers ? await this.#members(group.id, call) : undefined;
      resources.push(this.#render(group, members, base, projection).body);
    }
    return listResponse(found.total, page.startIndex, resources);
  }

  /**
   * PUT: the group becomes the body, members included. The whole desired state goes to the
   * directory, which computes the member difference inside its transaction: a member PATCH
   * that commits while this PUT is in flight is either wholly before it or wholly after it.
   */
  async replace(
    id: string,
    body: unknown,
    ifMatch: readonly number[] | '*' | undefined,
    base: string,
    call: DirectoryCall,
  ): Promise<Rendered> {
    const doc = normaliseResource(GROUP_RESOURCE, body);
    const draft = groupDraftFromScim(doc);
    const wanted = memberIdsOf(doc);
    const expected = await pinnedVersion(ifMatch, () => this.#current(id, call));
    const group = await directory(() => this.groups.update(id, draft, { exactly: wanted }, expected, call));
    return this.#render(group, wanted, base, {});
  }

  /**
   * PATCH: member operations become one delta; the other operations apply to the group's
   * SCIM form. The answer leaves members out (RFC 7644 §3.5.2 lets the provider choose what a
   * PATCH returns; a 100,000-member list is not worth sending back for one change).
   */
  async patch(
    id: string,
    body: unknown,
    ifMatch: readonly number[] | '*' | undefined,
    base: string,
    call: DirectoryCall,
  ): Promise<Rendered> {
    const { members, rest } = splitMemberOperations(readPatchRequest(body));
    const current = await this.#current(id, call);
    checkIfMatch(ifMatch, current.version);
    let change: Partial<DirectoryGroupDraft> = {};
    if (rest.length > 0) {
      const patched = applyPatch(GROUP_RESOURCE, normaliseResource(GROUP_RESOURCE, groupToScim(current)), rest);
      const draft = groupDraftFromScim(normaliseResource(GROUP_RESOURCE, patched));
      change = {
        ...(draft.display_name === current.display_name ? {} : { display_name: draft.display_name }),
        ...(draft.external_id === current.external_id ? {} : { external_id: draft.external_id }),
      };
    }
    // "Clear" (remove or replace `members`) becomes the list the members end as, its difference
    // computed by the directory under the group's lock, as for a PUT.
    const update: MemberDelta | MemberList = members.clear ? { exactly: members.add } : { add: members.add, remove: members.remove };
    const expected = ifMatch === undefined || ifMatch === '*' ? undefined : current.version;
    if (Object.keys(change).length === 0 && !members.clear && members.add.length === 0 && members.remove.length === 0) {
      return this.#render(current, undefined, base, {});
    }
    const group = await directory(() => this.groups.update(id, change, update, expected, call));
    return this.#render(group, undefined, base, {});
  }

  async delete(id: string, ifMatch: readonly number[] | '*' | undefined, call: DirectoryCall): Promise<void> {
    const expected = await pinnedVersion(ifMatch, () => this.#current(id, call));
    await directory(() => this.groups.delete(id, expected, call));
  }

  async #members(id: string, call: DirectoryCall): Promise<string[]> {
    const all: string[] = [];
    for (;;) {
      const after = all.at(-1);
      const page = await directory(() => this.groups.members(id, { ...(after === undefined ? {} : { after }), limit: MEMBER_PAGE }, call));
      all.push(...page);
      if (page.length < MEMBER_PAGE) return all;
    }
  }

  #render(group: DirectoryGroup, members: readonly string[] | undefined, base: string, projection: Projection): Rendered {
    const doc = groupToScim(group);
    if (members !== undefined && members.length > 0) {
      doc.members = members.map((value) => ({ value, $ref: `${base}/Users/${value}`, type: 'User' }));
    }
    return { body: project(renderResource(GROUP_RESOURCE, doc, group, base), projection), version: group.version };
  }

  async #current(id: string, call: DirectoryCall): Promise<DirectoryGroup> {
    const group = await directory(() => this.groups.get(id, call));
    if (group === undefined) throw notFound('Group', id);
    return group;
  }
}
