import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../kit/errors.js';
import { EmailTakenError, VersionMismatchError } from '../users/errors.js';
import type { User } from '../users/model.js';
import type { ConsoleDependencies } from './plugin.js';
import { contextOf, formText, requireScope, seeOther, sendPage, viewerOf, type SignedIn } from './context.js';
import { allows } from '../auth/model.js';
import { ConflictPage, UserPage, UsersPage, type UserForm, type UserPageProps, type UsersListView } from './views/users.js';
import { pageLinks, readPage, readPaging, RESTARTED_NOTICE } from './paging.js';

/** Users a page: enough to scan, few enough that the page stays one screen of table on a phone. */
export const USERS_PAGE_SIZE = 25;
const QUERY_MAX = 200;

/** A user's groups a page on its page. */
export const USER_GROUPS_PAGE_SIZE = 25;
/** A user's latest events on its page; the events screen has the rest. */
export const USER_EVENTS_SHOWN = 20;

const NOTICES: Record<string, string> = {
  saved: 'Saved.',
  deactivated: 'The user was deactivated.',
  reactivated: 'The user was reactivated.',
};

/**
 * The users screens: search and page, one user with edit (by version), deactivate and
 * reactivate, delete, its groups (groups:read) and its latest events (events:read).
 */
export function usersRoutes(deps: Pick<ConsoleDependencies, 'users' | 'groups' | 'events'>) {
  const { users } = deps;
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/users', page, async (request, reply) => {
      const state = requireScope(request, 'users:read');
      const query = request.query as Record<string, unknown>;
      const q = typeof query.q === 'string' ? query.q.trim().slice(0, QUERY_MAX) : '';
      const paging = readPaging(query);
      const {
        page: result,
        paging: shown,
        restarted,
      } = await readPage(paging, (cursor) =>
        users.list(
          { limit: USERS_PAGE_SIZE, ...(q === '' ? {} : { q }), ...(cursor === undefined ? {} : { cursor }) },
          contextOf(request, state),
        ),
      );
      const list: UsersListView = {
        q,
        users: result.users,
        ...pageLinks(q, shown, result.nextCursor),
        ...(restarted ? { error: RESTARTED_NOTICE } : {}),
      };
      return sendPage(reply, UsersPage({ viewer: viewerOf(state), list }) as string);
    });

    app.get('/users/:id', page, async (request, reply) => {
      const state = requireScope(request, 'users:read');
      const user = await users.get(idOf(request), contextOf(request, state));
      const query = request.query as Record<string, unknown>;
      // `saved=1` is the older form of `done=saved`.
      const done = query.saved === '1' ? 'saved' : typeof query.done === 'string' ? query.done : '';
      return sendPage(reply, await userPage(request, state, user, { notice: NOTICES[done] }));
    });

    app.post('/users/:id/active', page, async (request, reply) => {
      const state = requireScope(request, 'users:write');
      const id = idOf(request);
      const active = formText(request.body, 'active') === 'true';
      const version = Number(formText(request.body, 'version'));
      const ctx = contextOf(request, state);
      try {
        await users.update(id, { active }, Number.isSafeInteger(version) ? [version] : [], ctx);
      } catch (error) {
        if (!(error instanceof VersionMismatchError)) throw error;
        const user = await users.get(id, ctx);
        const message = `Not ${active ? 'reactivated' : 'deactivated'}: someone changed this user since you opened it. Review it and try again.`;
        return sendPage(reply, await userPage(request, state, user, { error: message }), 409);
      }
      return seeOther(reply, `/console/users/${encodeURIComponent(id)}?done=${active ? 'reactivated' : 'deactivated'}`);
    });

    app.post('/users/:id', page, async (request, reply) => {
      const state = requireScope(request, 'users:write');
      const id = idOf(request);
      const mine = { name: formText(request.body, 'name') ?? '', email: formText(request.body, 'email') ?? '' };
      const version = Number(formText(request.body, 'version'));
      const ctx = contextOf(request, state);
      try {
        await users.update(id, { name: mine.name, email: mine.email }, Number.isSafeInteger(version) ? [version] : [], ctx);
        return seeOther(reply, `/console/users/${encodeURIComponent(id)}?saved=1`);
      } catch (error) {
        const viewer = viewerOf(state);
        if (error instanceof VersionMismatchError) {
          const current = await users.get(id, ctx);
          return sendPage(reply, ConflictPage({ viewer, current, mine }) as string, 409);
        }
        const form = formErrors(error, mine);
        if (form === undefined) throw error;
        const user = await users.get(id, ctx);
        return sendPage(reply, await userPage(request, state, user, { form, error: 'The user was not saved; see the fields below.' }), 400);
      }
    });

    app.post('/users/:id/delete', page, async (request, reply) => {
      const state = requireScope(request, 'users:write');
      const id = idOf(request);
      const version = Number(formText(request.body, 'version'));
      const ctx = contextOf(request, state);
      try {
        await users.delete(id, Number.isSafeInteger(version) ? [version] : [], ctx);
      } catch (error) {
        if (!(error instanceof VersionMismatchError)) throw error;
        const user = await users.get(id, ctx);
        const message = 'Not deleted: someone changed this user since you opened it. Review it and delete again if you still mean to.';
        return sendPage(reply, await userPage(request, state, user, { error: message }), 409);
      }
      return seeOther(reply, '/console/users');
    });

    /** A user's page: its groups at the URL's page and its latest events, each only when the key may read them. */
    async function userPage(
      request: FastifyRequest,
      state: SignedIn,
      user: User,
      says: Pick<UserPageProps, 'form' | 'notice' | 'error'>,
    ): Promise<JSX.Element> {
      const ctx = contextOf(request, state);
      let groups: UserPageProps['groups'];
      if (allows(state.principal, 'groups:read')) {
        const {
          page: found,
          paging,
          restarted,
        } = await readPage(readPaging(request.query as Record<string, unknown>), (cursor) =>
          deps.groups.groupsOf(user.id, { limit: USER_GROUPS_PAGE_SIZE, ...(cursor === undefined ? {} : { cursor }) }, ctx),
        );
        groups = { groups: found.items, ...pageLinks('', paging, found.nextCursor), ...(restarted ? { error: RESTARTED_NOTICE } : {}) };
      }
      const events = allows(state.principal, 'events:read')
        ? (await deps.events.latest({ subjectId: user.id, limit: USER_EVENTS_SHOWN }, request.deadline.signal)).events
        : undefined;
      return UserPage({ viewer: viewerOf(state), user, canWrite: allows(state.principal, 'users:write'), groups, events, ...says });
    }
  };
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

/** The form shown again with each refused field's message, or undefined when `error` is not about the fields. */
function formErrors(error: unknown, mine: { name: string; email: string }): UserForm | undefined {
  if (error instanceof EmailTakenError) return { ...mine, errors: { email: 'Another user has this email.' } };
  if (!(error instanceof ValidationError)) return undefined;
  const errors: { name?: string; email?: string } = {};
  for (const e of error.errors) {
    if (e.pointer === '/name') errors.name = `The name ${e.message}.`;
    else if (e.pointer === '/email') errors.email = `The email ${e.message}.`;
  }
  return { ...mine, errors };
}
