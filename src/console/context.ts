import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError } from '../auth/errors.js';
import { allows, type Principal, type Scope } from '../auth/model.js';
import { AppError } from '../kit/errors.js';
import type { RequestContext } from '../users/service.js';
import type { LiveSession } from './sessions.js';
import type { Viewer } from './views/layout.js';

/** What a console route needs before it runs. */
export type ConsoleRouteKind = 'signed-in' | 'anonymous' | 'asset';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Console routes only (src/console/): whether a session is required. */
    console?: ConsoleRouteKind;
    /**
     * `handler`: the route checks the CSRF token itself, not the console's preHandler (a
     * multipart upload: the token is a field read from the stream before the file part).
     */
    consoleCsrf?: 'handler';
  }
  interface FastifyRequest {
    /** The console session of this request, once the console's hook found one live. */
    consoleSession: SignedIn | null;
  }
}

export interface SignedIn {
  readonly token: string;
  readonly session: LiveSession;
  readonly principal: Principal;
}

/**
 * A state-changing console request that failed a cross-site check (no or wrong CSRF token,
 * another Origin): 403, told apart from a missing scope.
 */
export class CrossSiteRequestError extends AppError {
  readonly code = 'console-cross-site';
}

/** The signed-in person of a route that requires one (the console's preHandler guarantees it). */
export function signedIn(request: FastifyRequest): SignedIn {
  const state = request.consoleSession;
  if (state === null) throw new Error('console route ran without a session; its config.console is not "signed-in"');
  return state;
}

/** @throws ForbiddenError when the session's key lacks `scope` (admin implies all). */
export function requireScope(request: FastifyRequest, scope: Scope): SignedIn {
  const state = signedIn(request);
  if (!allows(state.principal, scope)) throw new ForbiddenError(scope);
  return state;
}

export function viewerOf(state: SignedIn): Viewer {
  return {
    canReadUsers: allows(state.principal, 'users:read'),
    canManageKeys: allows(state.principal, 'admin'),
    canReadEvents: allows(state.principal, 'events:read'),
    canManageWebhooks: allows(state.principal, 'webhooks:manage'),
    canImport: allows(state.principal, 'imports:write'),
    canReadGroups: allows(state.principal, 'groups:read'),
    csrfToken: state.session.csrfToken,
    actor: state.principal.actor,
  };
}

/** The use-case context of a console request: events record the key's actor and this request id. */
export function contextOf(request: FastifyRequest, state: SignedIn): RequestContext & { readonly signal: AbortSignal } {
  return { signal: request.deadline.signal, actor: state.principal.actor, requestId: request.id };
}

/** Sends a rendered page (never cached: it may hold a secret or a CSRF token). */
export function sendPage(reply: FastifyReply, html: string, status = 200): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

/** After a POST: 303 to a page, so a reload does not post again. */
export function seeOther(reply: FastifyReply, location: string): FastifyReply {
  return reply.redirect(location, 303);
}

/** One text field of a parsed form body (the last value when repeated), trimmed of nothing. */
export function formText(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value.at(-1) === 'string') return value.at(-1) as string;
  return undefined;
}

/** Every value of a repeated form field (checkboxes). */
export function formList(body: unknown, name: string): string[] {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
