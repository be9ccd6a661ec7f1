import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allows } from '../auth/model.js';
import { ForbiddenError } from '../auth/errors.js';
import { GroupNameTakenError, GroupVersionMismatchError, MembersNotFoundError, NotAMemberError } from '../groups/errors.js';
import type { GroupsService } from '../groups/service.js';
import { ValidationError } from '../kit/errors.js';
import { isUuid } from '../kit/uuid.js';
import type { UsersService } from '../users/service.js';
import { contextOf, formText, requireScope, seeOther, sendPage, viewerOf, type SignedIn } from './context.js';
import { pageLinks, readPage, readPaging, RESTARTED_NOTICE, type Paging } from './paging.js';
import { ADD_MEMBERS_MAX, GroupConflictPage, GroupPage, GroupsPage, type GroupForms } from './views/groups.js';

/** Groups a page, as the users screen. */
export const GROUPS_PAGE_SIZE = 25;
/** Members a page of a group's page. */
export const MEMBERS_PAGE_SIZE = 50;
const QUERY_MAX = 200;
/** An email or an id is far shorter; a longer line is a mistake, not something to look up. */
const LINE_MAX = 320;

const NOTICES: Record<string, string> = {
  created: 'The group was created.',
  saved: 'Saved.',
  added: 'The members were added.',
  removed: 'The member was removed.',
};

/** The groups screens (groups:read to look, groups:write to change), over GroupsService. */
export function groupsRoutes(groups: GroupsService, users: UsersService) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/groups', page, async (request, reply) => {
      const state = requireScope(request, 'groups:read');
      const query = request.query as Record<string, unknown>;
      const q = typeof query.q === 'string' ? query.q.trim().slice(0, QUERY_MAX) : '';
      return sendPage(reply, await listPage(request, state, q, readPaging(query)));
    });

    app.post('/groups', page, async (request, reply) => {
      const state = requireScope(request, 'groups:write');
      const displayName = formText(request.body, 'display_name') ?? '';
      try {
        const { group } = await groups.create({ display_name: displayName }, contextOf(request, state));
        return seeOther(reply, `/console/groups/${group.id}?done=created`);
      } catch (error) {
        const message = nameError(error);
        if (message === undefined) throw error;
        return sendPage(reply, await listPage(request, state, '', {}, { displayName, error: message }), 400);
      }
    });

    app.get('/groups/:id', page, async (request, reply) => {
      const state = requireScope(request, 'groups:read');
      const done = (request.query as Record<string, unknown>).done;
      const notice = typeof done === 'string' ? NOTICES[done] : undefined;
      return sendPage(reply, await groupPage(request, state, { notice }));
    });

    app.post('/groups/:id', page, async (request, reply) => {
      const state = requireScope(request, 'groups:write');
      const id = idOf(request);
      const displayName = formText(request.body, 'display_name') ?? '';
      const ctx = contextOf(request, state);
      try {
        await groups.update(id, { display_name: displayName }, versionOf(request.body), ctx);
        return seeOther(reply, `/console/groups/${encodeURIComponent(id)}?done=saved`);
      } catch (error) {
        if (error instanceof GroupVersionMismatchError) {
          const current = await groups.get(id, ctx);
          return sendPage(reply, GroupConflictPage({ viewer: viewerOf(state), current, mine: { displayName } }) as string, 409);
        }
        const message = nameError(error);
        if (message === undefined) throw error;
        const forms = { displayName, nameError: message };
        return sendPage(reply, await groupPage(request, state, { forms, error: 'The group was not saved.' }), 400);
      }
    });

    app.post('/groups/:id/delete', page, async (request, reply) => {
      const state = requireScope(request, 'groups:write');
      try {
        await groups.delete(idOf(request), versionOf(request.body), contextOf(request, state));
      } catch (error) {
        if (!(error instanceof GroupVersionMismatchError)) throw error;
        const message = 'Not deleted: someone changed this group since you opened it. Review it and delete again if you still mean to.';
        return sendPage(reply, await groupPage(request, state, { error: message }), 409);
      }
      return seeOther(reply, '/console/groups');
    });

    app.post('/groups/:id/members', page, async (request, reply) => {
      const state = requireScope(request, 'groups:write');
      const id = idOf(request);
      const add = formText(request.body, 'add') ?? '';
      const ctx = contextOf(request, state);
      const refuse = async (addError: string) =>
        sendPage(reply, await groupPage(request, state, { forms: { add, addError }, error: 'No member was added.' }), 400);
      const lines = [...new Set(add.split(/\r?\n/).map((line) => line.trim()))].filter((line) => line !== '');
      if (lines.length === 0) return refuse('Give at least one email or user id.');
      if (lines.length > ADD_MEMBERS_MAX) return refuse(`Give at most ${ADD_MEMBERS_MAX} a time (there were ${lines.length}).`);
      const tooLong = lines.find((line) => line.length > LINE_MAX);
      if (tooLong !== undefined) return refuse(`A line is longer than ${LINE_MAX} characters: ${tooLong.slice(0, 40)}…`);
      const emails = lines.filter((line) => !isUuid(line));
      // Looking a user up by email reads users: without users:read, only ids.
      if (emails.length > 0 && !allows(state.principal, 'users:read')) throw new ForbiddenError('users:read');
      const ids = lines.filter((line) => isUuid(line));
      const unknown: string[] = [];
      for (const email of emails) {
        const found = await users.list({ limit: 1, email }, ctx).catch((error: unknown) => {
          if (error instanceof ValidationError) return { users: [] };
          throw error;
        });
        const user = found.users[0];
        if (user === undefined) unknown.push(email);
        else ids.push(user.id);
      }
      if (unknown.length > 0) return refuse(`No user has ${unknown.length === 1 ? 'this email' : 'these emails'}: ${unknown.join(', ')}.`);
      try {
        await groups.addMembers(id, ids, undefined, ctx);
      } catch (error) {
        if (error instanceof MembersNotFoundError)
          return refuse(`No user has ${error.userIds.length === 1 ? 'this id' : 'these ids'}: ${error.userIds.join(', ')}.`);
        throw error;
      }
      return seeOther(reply, `/console/groups/${encodeURIComponent(id)}?done=added`);
    });

    app.post('/groups/:id/members/:userId/remove', page, async (request, reply) => {
      const state = requireScope(request, 'groups:write');
      const id = idOf(request);
      const { userId } = request.params as { userId: string };
      try {
        await groups.removeMember(id, userId, undefined, contextOf(request, state));
      } catch (error) {
        // Someone else removed it first: the page already shows what was asked for.
        if (!(error instanceof NotAMemberError)) throw error;
      }
      return seeOther(reply, `/console/groups/${encodeURIComponent(id)}?done=removed`);
    });

    /** The groups screen for `q` at `paging`, with the create form as given. */
    async function listPage(
      request: FastifyRequest,
      state: SignedIn,
      q: string,
      paging: Paging,
      form?: { displayName: string; error: string },
    ): Promise<JSX.Element> {
      const {
        page: result,
        paging: shown,
        restarted,
      } = await readPage(paging, (cursor) =>
        groups.list(
          { limit: GROUPS_PAGE_SIZE, ...(q === '' ? {} : { q }), ...(cursor === undefined ? {} : { cursor }) },
          contextOf(request, state),
        ),
      );
      return GroupsPage({
        viewer: viewerOf(state),
        canWrite: allows(state.principal, 'groups:write'),
        list: { q, groups: result.items, ...pageLinks(q, shown, result.nextCursor), ...(restarted ? { error: RESTARTED_NOTICE } : {}) },
        form,
      });
    }

    /** A group's page with its members at the URL's page, and what to say. */
    async function groupPage(
      request: FastifyRequest,
      state: SignedIn,
      says: { forms?: GroupForms; notice?: string | undefined; error?: string },
    ): Promise<JSX.Element> {
      const id = idOf(request);
      const ctx = contextOf(request, state);
      const group = await groups.get(id, ctx);
      const {
        page: members,
        paging,
        restarted,
      } = await readPage(readPaging(request.query as Record<string, unknown>), (cursor) =>
        groups.members(id, { limit: MEMBERS_PAGE_SIZE, ...(cursor === undefined ? {} : { cursor }) }, ctx),
      );
      return GroupPage({
        viewer: viewerOf(state),
        group,
        members: { members: members.items, ...pageLinks('', paging, members.nextCursor) },
        canWrite: allows(state.principal, 'groups:write'),
        forms: says.forms,
        notice: says.notice,
        error: says.error ?? (restarted ? RESTARTED_NOTICE : undefined),
      });
    }
  };
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

/** The version the form was read at: a write pinned to it, or unpinned when the form carried none. */
function versionOf(body: unknown): number[] {
  const version = Number(formText(body, 'version'));
  return Number.isSafeInteger(version) ? [version] : [];
}

/** The display name's refusal in words, or undefined when `error` is not about it. */
function nameError(error: unknown): string | undefined {
  if (error instanceof GroupNameTakenError) return 'Another group has this name.';
  if (!(error instanceof ValidationError)) return undefined;
  const about = error.errors.find((e) => e.pointer === '/display_name');
  return about === undefined ? undefined : `The name ${about.message}.`;
}
