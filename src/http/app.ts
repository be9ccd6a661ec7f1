import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { UnavailableError } from '../kit/errors.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { UsersService } from '../users/service.js';
import { healthRoutes, type Readiness } from './health.routes.js';
import { PROBLEM_CONTENT_TYPE, problem, toProblem } from './problem.js';
import { usersRoutes } from './users.routes.js';
import { apiKeysRoutes } from './api-keys.routes.js';
import { BEARER_SCHEME, enforceAccess, type RouteEntry } from './auth.js';
import type { Authenticator } from '../auth/authenticator.js';
import { ForbiddenError } from '../auth/errors.js';
import type { ApiKeysService } from '../auth/service.js';
import { strictValidatorCompiler } from './validation.js';

export interface AppDependencies {
  readonly logger: FastifyBaseLogger;
  readonly users: UsersService;
  readonly apiKeys: ApiKeysService;
  readonly authenticator: Authenticator;
  readonly readiness: Readiness;
  readonly bodyLimitBytes: number;
  readonly version?: string;
}

/** The one error handler: map to a problem, log 5xx causes with the request id, hide their text. */
function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const body = toProblem(error, request.id);
  if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="roster"');
  if (error instanceof ForbiddenError) {
    reply.header('www-authenticate', `Bearer realm="roster", error="insufficient_scope", scope="${error.missingScope}"`);
  }
  if (body.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.debug({ err: error }, 'request rejected');
  // Router-level errors skip the onRequest hooks, so the id header is set here too.
  return reply.code(body.status).header('x-request-id', request.id).type(PROBLEM_CONTENT_TYPE).send(body);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with the access it requires, in registration order (for tests and docs). */
    routeTable: readonly RouteEntry[];
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the HTTP app: plugins, error mapping, routes. Never listens: `main.ts` does that, and
 * tests call `inject()` on the result.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written by the onResponse hook below, not two by Fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: deps.bodyLimitBytes,
    // Sizes: Node's 16 KiB header cap applies; URLs longer than this are refused early.
    // Keep-alive sockets with no request in flight are closed at shutdown; busy ones finish.
    // Requests that still arrive on open connections get our 503 problem (hook below).
    forceCloseConnections: 'idle',
    return503OnClosing: false,
    // Router-level rejections (bad percent-encoding, over-long path segments) go through the
    // same problem mapping as everything else.
    frameworkErrors: (error, request, reply) => {
      void sendProblem(error, request, reply);
    },
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(strictValidatorCompiler);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (deps.readiness.isDraining() && request.routeOptions.config.access !== 'public') {
      reply.header('connection', 'close').header('retry-after', '1');
      throw new UnavailableError('This instance is shutting down; retry on another.');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      'request',
    );
  });

  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.setErrorHandler(sendProblem);
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problem('route-not-found', `No route matches ${request.method} ${request.url.split('?')[0]}.`, request.id)),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Roster',
        version: deps.version ?? '0.0.0',
        description: 'The user directory: create, read, search, update and delete users.',
      },
      tags: [
        { name: 'users', description: 'The directory' },
        { name: 'api-keys', description: 'Credentials for callers (admin)' },
        { name: 'health', description: 'Liveness and readiness probes' },
      ],
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key (rk_…) or, when configured, a JWT from the trusted issuer',
          },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Everything registered from here on must declare its access (see http/auth.ts).
  const routes = enforceAccess(app, deps.authenticator);

  await app.register(healthRoutes(deps.readiness));
  await app.register(usersRoutes(deps.users));
  await app.register(apiKeysRoutes(deps.apiKeys));
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, () => app.swagger());
  app.decorate('routeTable', routes);
  return app;
}
