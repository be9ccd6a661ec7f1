import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { UsersService } from '../users/service.js';
import { healthRoutes, type Readiness } from './health.routes.js';
import { PROBLEM_CONTENT_TYPE, problem, toProblem } from './problem.js';
import { usersRoutes } from './users.routes.js';

export interface AppDependencies {
  readonly logger: FastifyBaseLogger;
  readonly users: UsersService;
  readonly readiness: Readiness;
  readonly bodyLimitBytes: number;
  readonly version?: string;
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
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
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

  app.setErrorHandler((error, request, reply) => {
    const body = toProblem(error, request.id);
    if (body.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ err: error }, 'request rejected');
    return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
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
        { name: 'health', description: 'Liveness and readiness probes' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(deps.readiness));
  await app.register(usersRoutes(deps.users));
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  return app;
}
