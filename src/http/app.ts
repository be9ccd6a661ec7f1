import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { UsersService } from '../users/service.js';
import { HEALTH_SCHEMAS, healthRoutes, type Readiness } from './health.routes.js';
import { PROBLEM_CONTENT_TYPE, problem, retryAfter, toProblem } from './problem.js';
import { USERS_SCHEMAS, usersRoutes } from './users.routes.js';
import { GROUPS_SCHEMAS, groupsRoutes } from './groups.routes.js';
import type { GroupsService } from '../groups/service.js';
import { API_KEYS_SCHEMAS, apiKeysRoutes } from './api-keys.routes.js';
import { EVENTS_SCHEMAS, eventsRoutes } from './events.routes.js';
import type { EventsService } from '../events/service.js';
import { WEBHOOKS_SCHEMAS, webhooksRoutes } from './webhooks.routes.js';
import type { WebhooksService } from '../webhooks/service.js';
import { IMPORTS_SCHEMAS, importsRoutes, type ImportsHttp } from './imports.routes.js';
import { scimRoutes, type ScimDirectory } from './scim.routes.js';
import { SCIM_CONTENT_TYPE, SCIM_PREFIX, isScimUrl, scimErrorBody, sendScimError } from './scim-errors.js';
import { enforceAccess, type RouteEntry } from './auth.js';
import { registerOpenApi } from './openapi.js';
import { registerDocsPage } from './docs-page.js';
import { Problem } from './schemas.js';
import type { Authenticator } from '../auth/authenticator.js';
import { ForbiddenError } from '../auth/errors.js';
import type { ApiKeysService } from '../auth/service.js';
import { strictValidatorCompiler } from './validation.js';
import { parseQuery, rejectUndecodableQuery, undecodablePathError, utf8JsonParser } from './encoding.js';
import { clientErrorHandler } from './client-error.js';
import { API_SECURITY_HEADERS } from './security-headers.js';
import { DEFAULT_RATE_LIMITS, registerRateLimit, type RateLimits } from './rate-limit.js';
import type { TrustProxy } from '../config.js';
import type { HttpMetrics } from '../observability/metrics.js';
import { ClientGoneError, enforceDeadlines, guardSlowBodies } from './deadline.js';
import { DEFAULT_SHEDDING, registerLoadShedding, type SheddingThresholds } from './load-shedding.js';
import { consoleRoutes, type ConsoleDependencies } from '../console/plugin.js';
import { REQUEST_ID_LOG_LABEL, RequestLogger } from './request-logger.js';
import { nameRequestSpan, requestLoggerFactory, tracingServerFactory, type ServerTimeouts } from './tracing.js';

export interface AppDependencies {
  readonly logger: FastifyBaseLogger;
  readonly users: UsersService;
  /** Groups and their members; the routes exist only when it is given. */
  readonly groups?: GroupsService;
  readonly apiKeys: ApiKeysService;
  readonly events: EventsService;
  /** Webhook endpoints, their log and replays; the routes exist only when it is given. */
  readonly webhooks?: WebhooksService;
  /** Bulk import and export; without it those routes are absent. */
  readonly imports?: ImportsHttp;
  /** SCIM 2.0 at /scim/v2 over these ports; without it those routes are absent. */
  readonly scim?: ScimDirectory;
  readonly authenticator: Authenticator;
  /** The admin console at /console (src/console/); absent, so are its routes. */
  readonly console?: ConsoleDependencies;
  readonly readiness: Readiness;
  readonly bodyLimitBytes: number;
  /** Per-credential and per-IP request budgets; with `redis`, shared by every instance. Default: DEFAULT_RATE_LIMITS. */
  readonly rateLimits?: RateLimits;
  /** Proxies whose X-Forwarded-For is believed (request.ip, hence the per-IP limit, comes from it). */
  readonly trustProxy?: TrustProxy;
  /** Origins allowed by CORS; none (the default) leaves CORS off. */
  readonly corsOrigins?: readonly string[];
  readonly version?: string;
  /** RED metrics; omitted in tests that do not look at them. */
  readonly metrics?: HttpMetrics;
  /** Deadline of one request (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** When new requests are refused with 503 `overloaded` (default: DEFAULT_SHEDDING). */
  readonly shedding?: SheddingThresholds;
  /** Timeouts of the listening server (default: DEFAULT_SERVER_TIMEOUTS). */
  readonly serverTimeouts?: ServerTimeouts;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 72_000 };

/** The one error handler: map to a problem, log 5xx causes with the request id, hide their text. */
function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const body = toProblem(error, request.id);
  const wait = retryAfter(body);
  if (wait !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', wait);
  if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="roster"');
  if (error instanceof ForbiddenError) {
    reply.header('www-authenticate', `Bearer realm="roster", error="insufficient_scope", scope="${error.missingScope}"`);
  }
  if (body.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.debug({ err: error }, 'request rejected');
  // Router-level errors skip the onRequest hooks, so those headers are set here too.
  return reply.code(body.status).headers(SECURITY_HEADERS).header('x-request-id', request.id).type(PROBLEM_CONTENT_TYPE).send(body);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with the access it requires, in registration order (for tests and docs). */
    routeTable: readonly RouteEntry[];
  }
  interface FastifyRequest {
    /** Its request line is written (http/app.ts only): once, whichever way the request ended. */
    recorded: boolean;
  }
}

/**
 * Fastify's `trustProxy` from ours; a list trusts those addresses. A hop count trusts that many
 * proxies nearest to us whatever their address (proxy-addr's meaning): Fastify 5.12 ignores a
 * number outright, because a client reaching the port directly could then forge
 * X-Forwarded-For, so it is expressed as a function here and the README says to prefer a list.
 */
function trustProxy(given: TrustProxy | undefined): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (given === undefined) return false;
  if (typeof given === 'number') return (_address, hop) => hop < given;
  return typeof given === 'object' ? [...given] : given;
}

/**
 * Security headers on every response (http/security-headers.ts: helmet's, less those only an
 * HTML document heeds, which the console and /docs add). The API serves JSON only, so its CSP
 * forbids everything; the docs page replaces it with swagger-ui's own CSP (scripts and styles
 * from 'self' plus the hashes of its inline bits), set by swagger-ui on its routes (http/docs-page.ts).
 */
const SECURITY_HEADERS = API_SECURITY_HEADERS;

const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the HTTP app: plugins, error mapping, routes. Never listens: `main.ts` does that, and
 * tests call `inject()` on the result.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const timeouts = deps.serverTimeouts ?? DEFAULT_SERVER_TIMEOUTS;
  // Under /scim/v2 every error is a SCIM error, whichever layer raised it (router, auth, rate
  // limit, body parser, shedding, handler): providers act on SCIM errors only.
  const scimOn = deps.scim !== undefined;
  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply) =>
    scimOn && isScimUrl(request.url) ? sendScimError(error, request, reply, SECURITY_HEADERS) : sendProblem(error, request, reply);
  const nodeTimeouts = { ...timeouts, requestTimeoutMs: timeouts.requestTimeoutMs + (deps.imports?.uploadTimeoutMs ?? 0) };
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written by the onResponse hook below, not two by Fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: REQUEST_ID_LOG_LABEL }),
    // Without tracing, a request's lines still name the caller's trace (http/tracing.ts).
    childLoggerFactory: requestLoggerFactory,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: deps.bodyLimitBytes,
    trustProxy: trustProxy(deps.trustProxy),
    // Sizes: Node's 16 KiB header cap applies; URLs longer than this are refused early.
    // At shutdown connections are closed between requests, never under one (http/drain.ts);
    // requests that still arrive on open connections get our 503 problem (hook below).
    forceCloseConnections: 'idle',
    return503OnClosing: false,
    // Router-level rejections (bad percent-encoding, over-long path segments) go through the
    // same problem mapping as everything else.
    // A path segment whose bytes are not UTF-8 is a 400 `invalid-encoding` naming its parameter.
    frameworkErrors: (error, request, reply) => {
      const paramsOf = (path: string) => app.findRoute({ method: request.method, url: path })?.params;
      void sendError(undecodablePathError(error, request.raw.url ?? '', paramsOf) ?? error, request, reply);
    },
    // Query values whose bytes are not UTF-8 are recorded here and refused by a preParsing hook below.
    routerOptions: { maxParamLength: 200, querystringParser: parseQuery },
    // Node's whole-request limit cannot exempt one route, so it is raised to let an upload
    // (ROSTER_IMPORT_UPLOAD_TIMEOUT_MS) through, and guardSlowBodies() below holds every other
    // route to ROSTER_HTTP_REQUEST_TIMEOUT_MS. Node's limit stays as the outer bound.
    serverFactory: tracingServerFactory(nodeTimeouts),
    // What Node's parser refuses (431, 400) and its timeouts (408) are answered as problems too.
    clientErrorHandler: clientErrorHandler(nodeTimeouts),
  });
  app.setValidatorCompiler(strictValidatorCompiler);
  const metrics = deps.metrics;
  // First hook of every request: an overloaded instance refuses work before doing any.
  await registerLoadShedding(app, deps.shedding ?? DEFAULT_SHEDDING, (reason) => metrics?.shed.inc({ reason }));
  // One request line per request, whichever way it ends: answered (onResponse), its client gone
  // mid-handler (onClientGone) or mid-body (onRequestAbort, where no handler ever runs).
  // A flag on the request rather than a WeakSet of requests: no hash-table insert per request.
  app.decorateRequest('recorded', false);
  const recordRequest = (request: FastifyRequest, status: number, elapsedMs: number | undefined) => {
    if (request.recorded) return;
    request.recorded = true;
    const route = request.routeOptions.url ?? 'unmatched';
    const durationMs = elapsedMs === undefined ? undefined : Math.round(elapsedMs * 1000) / 1000;
    const line = { method: request.method, route, status, actor: request.principal?.actor, duration_ms: durationMs };
    if (request.log instanceof RequestLogger) request.log.requestLine(line);
    else request.log.info(line, 'request');
    nameRequestSpan(request.raw, request.method, route);
    // Each label set is a cell found through one Map per label (observability/cell-metrics.ts).
    if (metrics) {
      metrics.requests.inc({ method: request.method, route, status_class: STATUS_CLASSES[Math.floor(status / 100)] ?? 'other' });
      if (elapsedMs !== undefined) metrics.duration.observe({ method: request.method, route }, elapsedMs / 1000);
    }
  };

  enforceDeadlines(
    app,
    deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    (route) => metrics?.deadlineExceeded.inc({ route }),
    (request, reply, outcome) => {
      // Gone while the answer was written, yet the request line is out: the answer did finish
      // (inject()'s responses report 'close' without the writableFinished the deadline checks).
      if (outcome.whileAnswering === true && request.recorded) return;
      // One line says what became of the work; the request line says 499 (nginx's "client
      // closed request"), since no response is finished and onResponse never runs.
      if (outcome.completed) {
        request.log.info(
          { status: outcome.status },
          'client closed the connection before the answer; the request completed (a write committed)',
        );
      } else if (outcome.error instanceof ClientGoneError) {
        request.log.info('client closed the connection before the answer; its work was stopped (a write rolled back)');
      } else {
        request.log.warn({ err: outcome.error }, 'client closed the connection before the answer; the request failed');
      }
      recordRequest(request, 499, reply.elapsedTime);
    },
  );
  guardSlowBodies(app, timeouts.requestTimeoutMs);

  // Callback hooks where an async one would only add a promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
    if (deps.readiness.isClosing() && request.routeOptions.config.access !== 'public') {
      // Answered here rather than thrown: a drain is no error, so it is not logged as one.
      const detail = 'This instance is shutting down; retry on another.';
      void reply.code(503).header('connection', 'close').header('retry-after', '1');
      if (scimOn && isScimUrl(request.url)) void reply.type(SCIM_CONTENT_TYPE).send(scimErrorBody(503, detail));
      else void reply.type(PROBLEM_CONTENT_TYPE).send(problem('unavailable', detail, request.id));
      return;
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    recordRequest(request, reply.statusCode, reply.elapsedTime);
    done();
  });
  app.addHook('onRequestAbort', async (request) => {
    // No reply is reachable from here, so no duration: it stays out of the latency histogram.
    recordRequest(request, 499, undefined);
  });

  // Every JSON body is read as bytes and refused (400 `invalid-encoding`) unless it is UTF-8.
  const json = utf8JsonParser(app.getDefaultJsonParser('error', 'error'));
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'buffer' }, json);
  // Only routes that read their query (they declare a querystring schema) refuse one that is not
  // UTF-8; the others ignore it and so carry no hook for it, rather than one that checks per request.
  app.addHook('onRoute', (route) => {
    if (route.schema?.querystring === undefined) return;
    route.preParsing = [...[route.preParsing ?? []].flat(), rejectUndecodableQuery] as typeof route.preParsing;
  });

  app.setErrorHandler(sendError);
  const corsOrigins = deps.corsOrigins ?? [];
  if (corsOrigins.length > 0) {
    // Bearer credentials, no cookies: `credentials` stays off. Registered before the access
    // rules because it adds its own preflight route (preflights carry no credentials).
    await app.register(cors, {
      origin: [...corsOrigins],
      methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'x-request-id'],
      exposedHeaders: ['etag', 'location', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-request-id'],
      maxAge: 600,
    });
  }

  await registerOpenApi(app, deps.version ?? '0.0.0');
  // Named schemas (components.schemas) go on the root: one added inside a route plugin makes
  // Fastify rebuild that plugin's validator with its default Ajv (coercing, stripping unknown
  // fields) instead of strictValidatorCompiler.
  const named = [
    Problem.schema,
    ...HEALTH_SCHEMAS,
    ...USERS_SCHEMAS,
    ...(deps.groups ? GROUPS_SCHEMAS : []),
    ...API_KEYS_SCHEMAS,
    ...EVENTS_SCHEMAS,
    ...(deps.webhooks ? WEBHOOKS_SCHEMAS : []),
    ...(deps.imports ? IMPORTS_SCHEMAS : []),
  ];
  for (const schema of named) app.addSchema(schema);
  await registerDocsPage(app);
  // Everything registered from here on must declare its access (see http/auth.ts) and is rate
  // limited, charged to the verified credential or else the client IP (http/rate-limit.ts).
  const rateLimits = {
    onFailOpen: () => metrics?.rateLimitFailOpen.inc(),
    log: app.log,
    ...(deps.rateLimits ?? DEFAULT_RATE_LIMITS),
  };
  const routes = await enforceAccess(app, deps.authenticator, () => registerRateLimit(app, rateLimits));

  await app.register(healthRoutes(deps.readiness));
  await app.register(usersRoutes(deps.users));
  if (deps.groups) await app.register(groupsRoutes(deps.groups));
  await app.register(apiKeysRoutes(deps.apiKeys));
  await app.register(eventsRoutes(deps.events));
  if (deps.webhooks) await app.register(webhooksRoutes(deps.webhooks));
  if (deps.imports !== undefined) await app.register(importsRoutes(deps.imports));
  if (deps.console !== undefined) await app.register(consoleRoutes(deps.console), { prefix: '/console' });
  if (deps.scim !== undefined) await app.register(scimRoutes(deps.scim), { prefix: SCIM_PREFIX });
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, () => app.swagger());
  // Unknown URLs are charged to the client IP too, so scanning for routes meets the same limit.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) =>
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problem('route-not-found', `No route matches ${request.method} ${request.url.split('?')[0]}.`, request.id)),
  );
  app.decorate('routeTable', routes);
  return app;
}
