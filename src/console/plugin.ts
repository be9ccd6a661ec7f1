import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeysService } from '../auth/service.js';
import type { UsersService } from '../users/service.js';
import type { EventsService } from '../events/service.js';
import type { WebhooksService } from '../webhooks/service.js';
import type { GroupsService } from '../groups/service.js';
import { InvalidEncodingError, parseQuery, undecodableQueryParameters } from '../http/encoding.js';
import { toProblem } from '../http/problem.js';
import { DOCUMENT_SECURITY_HEADERS } from '../http/security-headers.js';
import { consoleAssets } from './assets/paths.js';
import { CrossSiteRequestError, sendPage, viewerOf, type SignedIn } from './context.js';
import { readCookie, SESSION_COOKIE } from './cookies.js';
import { csrfMatches, type ConsoleSessions } from './sessions.js';
import { keysRoutes } from './keys.routes.js';
import { eventsRoutes } from './events.routes.js';
import { webhooksRoutes } from './webhooks.routes.js';
import { sessionRoutes } from './session.routes.js';
import { usersRoutes } from './users.routes.js';
import { importsRoutes } from './imports.routes.js';
import { statusRoutes } from './status.routes.js';
import type { StatusSource } from './status.js';
import type { ImportsHttp } from '../http/imports.routes.js';
import { groupsRoutes } from './groups.routes.js';
import { ErrorPage } from './views/pages.js';

export interface ConsoleDependencies {
  readonly users: UsersService;
  readonly apiKeys: ApiKeysService;
  readonly events: EventsService;
  readonly webhooks: WebhooksService;
  readonly groups: GroupsService;
  readonly sessions: ConsoleSessions;
  /** The imports screen, over what POST /v1/imports uses; absent, so is the screen. */
  readonly imports?: ImportsHttp;
  /** The status screen; absent, so is the screen. */
  readonly status?: StatusSource;
  /** Sign-in attempts a minute per client IP (default SIGN_IN_PER_MINUTE_DEFAULT, session.routes.ts). */
  readonly signInPerMinute?: number;
}

/**
 * The page's CSP: scripts, styles and requests to this origin only, nothing inline, no
 * framing, forms posting only here. htmx and console.js are files served below.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Forms are small; a body past this is refused (413) before it is parsed. */
const FORM_BODY_LIMIT = 64 * 1024;

/**
 * The admin console, registered under the prefix /console: server-rendered pages acting with the signed-in key's
 * scopes, calling the services directly. Registered inside the access rules of http/app.ts:
 * its routes are `public` to those (they carry no bearer credential) and this plugin does its
 * own session check, which records the key's principal first, so the rate limiter charges a
 * signed-in person's pages to their key.
 */
export function consoleRoutes(deps: ConsoleDependencies) {
  return async function consolePlugin(app: FastifyInstance): Promise<void> {
    app.decorateRequest('consoleSession', null);
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
      (_request, body, done) => {
        const form = parseQuery(body as string);
        const undecodable = undecodableQueryParameters(form);
        if (undecodable !== undefined)
          done(new InvalidEncodingError('The form has fields that are not valid UTF-8.', undecodable), undefined);
        else done(null, form);
      },
    );

    app.addHook('onRequest', async (request, reply) => {
      const kind = request.routeOptions.config.console;
      if (kind === 'asset') return;
      // A page: the headers only an HTML document heeds, on top of the API's (http/security-headers.ts).
      reply.headers(DOCUMENT_SECURITY_HEADERS);
      reply.header('content-security-policy', CONSOLE_CSP);
      // The API's no-referrer makes a browser send `Origin: null` on a form post, which the
      // Origin check must refuse; same-origin keeps it for our own posts and tells no other site.
      reply.header('referrer-policy', 'same-origin');
      if (kind !== 'signed-in') return;
      const token = readCookie(request.headers.cookie, SESSION_COOKIE);
      // An onRequest hook runs before the route's deadline exists (http/deadline.ts wraps the
      // handler): these two lookups are bounded by the database's own timeouts instead.
      const session = await deps.sessions.resume(token, undefined);
      if (session === undefined || token === undefined) return;
      const principal = await deps.apiKeys.principalOf(session.record.keyId);
      // A revoked or expired key ends its sessions: this one goes now, the request is signed out.
      if (principal === undefined) {
        await deps.sessions.end(token, undefined);
        return;
      }
      request.consoleSession = { token, session, principal };
      // Charged to the key by the rate limiter and named on the request's log line.
      request.principal = principal;
    });

    app.addHook('preHandler', async (request, reply) => {
      const kind = request.routeOptions.config.console;
      if (kind === 'asset') return;
      if (request.method !== 'GET' && request.method !== 'HEAD') checkOrigin(request);
      if (kind !== 'signed-in') return;
      const state = request.consoleSession;
      if (state === null) return toSignIn(request, reply);
      const csrfInHandler = request.routeOptions.config.consoleCsrf === 'handler';
      if (request.method !== 'GET' && request.method !== 'HEAD' && !csrfInHandler) checkCsrf(request, state);
    });

    app.setErrorHandler((error, request, reply) => {
      const viewer = request.consoleSession === null ? undefined : viewerOf(request.consoleSession);
      if (error instanceof CrossSiteRequestError) {
        request.log.info({ err: error }, 'console request refused');
        return sendPage(
          reply,
          ErrorPage({ status: 403, title: 'The request was refused', detail: error.message, requestId: request.id, viewer }) as string,
          403,
        );
      }
      const problem = toProblem(error, request.id);
      if (problem.status >= 500) request.log.error({ err: error }, 'console request failed');
      else request.log.debug({ err: error }, 'console request rejected');
      if (problem.status === 429) reply.header('retry-after', '60');
      const page = ErrorPage({
        status: problem.status,
        title: problem.title,
        detail: problem.status >= 500 ? undefined : problem.detail,
        requestId: request.id,
        viewer,
      });
      return sendPage(reply, page as string, problem.status);
    });

    app.setNotFoundHandler((request, reply) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      return sendPage(reply, ErrorPage({ status: 404, title: 'No such page', requestId: request.id }) as string, 404);
    });

    for (const asset of consoleAssets()) {
      // Immutable: each URL names its content (a hash or htmx's version). Served from memory and
      // outside the rate limit: every page loads them, and they cost nothing to send.
      app.get(
        asset.path.slice('/console'.length),
        { config: { access: 'public', console: 'asset', rateLimit: false }, schema: { hide: true } },
        (_request, reply) => reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body),
      );
    }
    await app.register(sessionRoutes(deps));
    await app.register(usersRoutes(deps));
    await app.register(groupsRoutes(deps.groups, deps.users));
    await app.register(keysRoutes(deps.apiKeys));
    await app.register(eventsRoutes(deps.events));
    await app.register(webhooksRoutes(deps.webhooks));
    if (deps.imports !== undefined) await app.register(importsRoutes(deps.imports));
    if (deps.status !== undefined) await app.register(statusRoutes(deps.status));
  };
}

/** Browsers send Origin on every POST; one that is not this site's is a cross-site request. */
function checkOrigin(request: FastifyRequest): void {
  const expected = `${request.protocol}://${request.host}`;
  const origin = request.headers.origin;
  if (origin === expected) return;
  throw new CrossSiteRequestError(
    origin === undefined ? 'The request did not say which site sent it (no Origin header).' : 'The request came from another site.',
  );
}

function checkCsrf(request: FastifyRequest, state: SignedIn): void {
  const presented = (request.body as Record<string, unknown> | undefined)?._csrf ?? request.headers['x-csrf-token'];
  if (!csrfMatches(state.session, presented)) {
    throw new CrossSiteRequestError('The form was stale or did not come from this console; reload the page and try again.');
  }
}

/** No live session: to the sign-in page (htmx follows HX-Redirect rather than swapping the page in). */
function toSignIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (request.headers['hx-request'] === 'true') return reply.code(204).header('hx-redirect', '/console/sign-in').send();
  return reply.redirect('/console/sign-in', 303);
}
