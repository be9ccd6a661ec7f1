import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../kit/errors.js';
import { EmailTakenError, VersionMismatchError } from '../users/errors.js';
import type { UsersService } from '../users/service.js';
import { contextOf, formText, requireScope, seeOther, sendPage, viewerOf } from './context.js';
import { allows } from '../auth/model.js';
import { ConflictPage, UserPage, UsersPage, type UserForm, type UsersListView } from './views/users.js';
import { pageLinks, readPaging } from './paging.js';

/** Users a page: enough to scan, few enough that the page stays one screen of table on a phone. */
export const USERS_PAGE_SIZE = 25;
const QUERY_MAX = 200;

/** The users screens: search and page, one user with edit (by version) and delete. */
export function usersRoutes(users: UsersService) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/users', page, async (request, reply) => {
      const state = requireScope(request, 'users:read');
      const query = request.query as Record<string, unknown>;
      const q = typeof query.q === 'string' ? query.q.trim().slice(0, QUERY_MAX) : '';
      const paging = readPaging(query);
      let list: UsersListView;
      try {
        const result = await users.list(
          { limit: USERS_PAGE_SIZE, ...(q === '' ? {} : { q }), ...(paging.cursor === undefined ? {} : { cursor: paging.cursor }) },
          contextOf(request, state),
        );
        list = { q, users: result.users, ...pageLinks(q, paging, result.nextCursor) };
      } catch (error) {
        // A cursor from another search (or tampered with) starts the search over rather than failing the page.
        if (!(error instanceof AppError && error.code === 'invalid-cursor')) throw error;
        const first = await users.list({ limit: USERS_PAGE_SIZE, ...(q === '' ? {} : { q }) }, contextOf(request, state));
        list = {
          q,
          users: first.users,
          error: 'That page link is no longer valid; this is the first page.',
          ...pageLinks(q, {}, first.nextCursor),
        };
      }
      return sendPage(reply, UsersPage({ viewer: viewerOf(state), list }) as string);
    });

    app.get('/users/:id', page, async (request, reply) => {
      const state = requireScope(request, 'users:read');
      const user = await users.get(idOf(request), contextOf(request, state));
      const saved = (request.query as Record<string, unknown>).saved === '1';
      return sendPage(
        reply,
        UserPage({
          viewer: viewerOf(state),
          user,
          canWrite: allows(state.principal, 'users:write'),
          notice: saved ? 'Saved.' : undefined,
        }) as string,
      );
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
        return sendPage(
          reply,
          UserPage({ viewer, user, canWrite: true, form, error: 'The user was not saved; see the fields below.' }) as string,
          400,
        );
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
        return sendPage(reply, UserPage({ viewer: viewerOf(state), user, canWrite: true, error: message }) as string, 409);
      }
      return seeOther(reply, '/console/users');
    });
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
