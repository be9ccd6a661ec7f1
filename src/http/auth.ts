import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { ForbiddenError, UnauthenticatedError } from '../auth/errors.js';
import { allows, type Principal, type Scope } from '../auth/model.js';

/** What a route demands: a scope, or `public` for the few routes anyone may call. */
export type RouteAccess = Scope | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every route must declare it; registering a route without one fails at start-up. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The authenticated caller; null on public routes. */
    principal: Principal | null;
    /** Why authentication failed, kept until access is enforced (http/auth.ts only). */
    authFailure: unknown;
  }
}

/** One row per route, for the OpenAPI document and the generated authorisation tests. */
export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly access: RouteAccess;
}

export const BEARER_SCHEME = 'bearer';

/**
 * Enforces each route's declared access before anything else runs: 401 without valid
 * credentials, 403 without the scope. Routes registered after this refuse to start without an
 * `access` entry, so nothing is reachable by omission.
 *
 * Two onRequest steps with `between` (the rate limiter) in the middle: the first authenticates
 * and records the principal or the failure without throwing, so the limiter can charge the
 * request to the verified credential or, failing that, to the client IP; the second then
 * rejects. A flood of bad credentials is thus limited like any other anonymous traffic.
 */
export async function enforceAccess(
  app: FastifyInstance,
  authenticator: Authenticator,
  between: () => Promise<void> = async () => undefined,
): Promise<RouteEntry[]> {
  const table: RouteEntry[] = [];
  app.decorateRequest('principal', null);
  app.decorateRequest('authFailure', undefined);
  // Callback hooks, not async ones: a request with a key verified recently completes this
  // one without a promise (Authenticator.cached).
  const authenticate: onRequestHookHandler = (request, _reply, done) => {
    const known = authenticator.cached(request.headers.authorization);
    if (known !== undefined) {
      // The actor goes on the request's log line (http/app.ts), not into a child logger:
      // a child per request was 4–6 % of the GET-by-id profile.
      request.principal = known;
      done();
      return;
    }
    authenticator.authenticate(request.headers.authorization).then(
      (principal) => {
        request.principal = principal;
        done();
      },
      (error: unknown) => {
        request.authFailure = error;
        done();
      },
    );
  };
  // Added per route when the route is registered, so public routes pay nothing and no request
  // looks its route's access up. This onRoute hook is added before `between`'s, so on each route
  // authentication comes before the rate limiter (charged to the verified credential, or else
  // the IP) and the rejection after it.
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access scope`);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: route.url, access });
    }
    if (access === 'public') return;
    if (route.schema) {
      route.schema = {
        ...route.schema,
        security: [{ [BEARER_SCHEME]: [access] }],
        description:
          `${(route.schema as { description?: string }).description ?? ''}\n\nRequires scope \`${access}\` (or \`admin\`).`.trim(),
      };
    }
    route.onRequest = [...[route.onRequest ?? []].flat(), authenticate] as RouteOptions['onRequest'];
  });
  await between();
  // Route-level onRequest hooks run after the instance's, in the order they were added: this
  // one is appended after whatever `between` attached, on every route that needs a scope.
  // Hence: a plugin's own onRequest hook would run *before* this check, so route plugins do
  // their work in preHandler or later (none has an onRequest hook today).
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    if (access === undefined || access === 'public') return;
    const reject: onRequestHookHandler = (request, _reply, done) => {
      if (request.authFailure !== undefined) done(request.authFailure as Error);
      else if (request.principal === null) done(new UnauthenticatedError('The credentials are not valid.'));
      else if (!allows(request.principal, access)) done(new ForbiddenError(access));
      else done();
    };
    route.onRequest = [...[route.onRequest ?? []].flat(), reject] as RouteOptions['onRequest'];
  });
  return table;
}
