import type { FastifyInstance, RouteOptions } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { ForbiddenError } from '../auth/errors.js';
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
 */
export function enforceAccess(app: FastifyInstance, authenticator: Authenticator): RouteEntry[] {
  const table: RouteEntry[] = [];
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access scope`);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: route.url, access });
    }
    if (access !== 'public' && route.schema) {
      route.schema = {
        ...route.schema,
        security: [{ [BEARER_SCHEME]: [access] }],
        description:
          `${(route.schema as { description?: string }).description ?? ''}\n\nRequires scope \`${access}\` (or \`admin\`).`.trim(),
      };
    }
  });
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    const principal = await authenticator.authenticate(request.headers.authorization);
    request.principal = principal;
    request.log = request.log.child({ actor: principal.actor });
    if (!allows(principal, access)) throw new ForbiddenError(access);
  });
  return table;
}
