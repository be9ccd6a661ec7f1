import type { FastifyInstance, InjectOptions } from 'fastify';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Authenticator } from '../../src/auth/authenticator.js';
import type { Scope } from '../../src/auth/model.js';
import type { ApiKeysService } from '../../src/auth/service.js';
import { buildServices, httpDependencies, importsHttp, type Services } from '../../src/compose/services.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { buildApp, type AppDependencies } from '../../src/http/app.js';
import type { Readiness } from '../../src/http/health.routes.js';
import type { ImportsHttp } from '../../src/http/imports.routes.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import type { UsersService } from '../../src/users/service.js';
import { sqliteTestDatabase, type TestDatabase } from './databases.js';
import { checkedAgainstContract } from './contract.js';

/**
 * The config every helper wires from: production's defaults (src/config.ts), except what a
 * test process needs: test databases come migrated, a revoked key is refused at once (no
 * cache), no webhook dispatcher (the webhook tests drive their own), uploads spooled under the
 * system temp directory with a 64 MiB cap. `env` sets more, by variable name.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    ROSTER_MIGRATE_ON_START: 'false',
    ROSTER_AUTH_CACHE_TTL_MS: '0',
    ROSTER_WEBHOOK_WORKERS: '0',
    ROSTER_IMPORT_DIR: join(tmpdir(), 'roster-test-imports'),
    ROSTER_IMPORT_MAX_BYTES: String(64 * 1024 * 1024),
    ...env,
  });
}

/** A silent log unless LOG_LEVEL is set. */
function testLogger(): Logger {
  return createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'silent');
}

/**
 * The services over an open database, built by src/compose.ts as `serve` builds them, from
 * testConfig() (or `config`); the database stays open (its TestDatabase cleans it up). Import
 * jobs queue at most 4 (the tests never need more); tests may fix the ids.
 */
export function servicesOver(
  database: Database,
  options: { config?: Config; logger?: Logger; newId?: () => string; importQueueLimit?: number } = {},
): Promise<Services> {
  return buildServices(options.config ?? testConfig(), options.logger ?? testLogger(), {
    database,
    registry: new Registry(),
    importQueueLimit: options.importQueueLimit ?? 4,
    ...(options.newId === undefined ? {} : { newId: options.newId }),
  });
}

export interface TestAuth {
  readonly apiKeys: ApiKeysService;
  readonly authenticator: Authenticator;
  /** A key with the admin scope, sent by default by `withCredentials`. */
  readonly adminKey: string;
  /** Creates a key with exactly these scopes. */
  keyWith(scopes: Scope[], options?: { expiresInSeconds?: number }): Promise<{ id: string; key: string }>;
}

/** Real API keys in `database`: the service, the authenticator and an admin key. */
export async function testAuth(database: Database): Promise<TestAuth> {
  return testAuthFrom(await servicesOver(database));
}

async function testAuthFrom(services: Pick<Services, 'apiKeys' | 'authenticator'>): Promise<TestAuth> {
  const { apiKeys, authenticator } = services;
  const keyWith: TestAuth['keyWith'] = async (scopes, options = {}) => {
    const { record, plaintext } = await apiKeys.create({ name: `test ${scopes.join(' ')}`, scopes, ...options });
    return { id: record.id, key: plaintext };
  };
  const { key: adminKey } = await keyWith(['admin']);
  return { apiKeys, authenticator, adminKey, keyWith };
}

/**
 * Makes `app.inject` send `Authorization: Bearer <key>` unless the request sets its own
 * `authorization` header (set it to undefined to send none): most API tests are about users,
 * not auth, and the authorisation matrix tests credentials explicitly.
 */
export function withCredentials(app: FastifyInstance, key: string): void {
  const inject = app.inject.bind(app);
  app.inject = ((options?: InjectOptions | string) => {
    if (options === undefined || typeof options === 'string') return inject(options as InjectOptions);
    const headers = { ...(options.headers as Record<string, string | string[] | undefined> | undefined) };
    if (!Object.hasOwn(headers, 'authorization')) headers.authorization = `Bearer ${key}`;
    // light-my-request refuses undefined header values: "set it to undefined" means "omit it".
    else if (headers.authorization === undefined) delete headers.authorization;
    return inject({ ...options, headers });
  }) as FastifyInstance['inject'];
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly auth: TestAuth;
  readonly users: UsersService;
  readonly testDb: TestDatabase;
  /** Flip to make /readyz report draining. */
  draining: boolean;
  /** Flip to make API requests get 503 `unavailable`, as once the drain delay is over. */
  closing: boolean;
  close(): Promise<void>;
}

/** Dependencies a test replaces (a JWT-enabled authenticator, a log sink, small limits); the rest is wired by src/compose.ts. */
export type AppOverrides = Omit<Partial<AppDependencies>, 'logger'> & { readonly logger?: Logger };

/** What a test may set on the app; the rest is wired as in src/main.ts. */
export type TestAppOptions = Pick<
  AppOverrides,
  'rateLimits' | 'trustProxy' | 'corsOrigins' | 'metrics' | 'requestTimeoutMs' | 'shedding' | 'logger' | 'serverTimeouts'
>;

/**
 * Limits no ordinary test reaches; the abuse tests (test/http/abuse.api.test.ts) set small ones.
 * Every injected request comes from 127.0.0.1, so a realistic per-IP limit would bite here.
 */
export const GENEROUS_RATE_LIMITS = { perCredentialPerMinute: 1_000_000, perIpPerMinute: 1_000_000 } as const;

/** Load shedding off: no event-loop or utilisation threshold, a heap threshold nothing reaches. */
export const NO_SHEDDING = { eventLoopDelayMs: 0, heapUsedMb: 1_000_000, eventLoopUtilization: 0 } as const;

/** The users service over `database`, built as `serve` builds it; tests may fix its ids. */
export async function usersServiceOver(database: Database, options: { newId?: () => string } = {}): Promise<UsersService> {
  return (await servicesOver(database, options)).users;
}

/**
 * The app over `services`, as main.ts builds it, but with generous rate limits and no shedding;
 * `overrides` win. Every response it gives to app.inject is checked against its OpenAPI document.
 */
async function appFrom(services: Services, logger: Logger, readiness: Readiness, overrides: AppOverrides): Promise<FastifyInstance> {
  const app = await buildApp({
    ...httpDependencies(testConfig(), services, logger, { readiness }),
    rateLimits: GENEROUS_RATE_LIMITS,
    // Test processes share two cores with other test files: a scheduling stall must not turn a
    // test's request into a 503. Shedding has its own test (test/http/deadline-shedding.api.test.ts).
    shedding: NO_SHEDDING,
    ...overrides,
  });
  checkedAgainstContract(app);
  return app;
}

/**
 * The app over an open database, wired by src/compose.ts like `serve` (generous rate limits,
 * a silent log unless LOG_LEVEL is set); `overrides` replace any dependency (a JWT-enabled
 * authenticator, a log sink, small limits). Not listening: for `app.inject`, or `listen()`.
 */
export async function appOver(database: Database, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  const logger = overrides.logger ?? testLogger();
  const services = await servicesOver(database, { logger });
  return appFrom(services, logger, { isDraining: () => false, isClosing: () => false, ping: () => database.ping(1000) }, overrides);
}

/** Import and export over `database`, wired as in src/main.ts, spooling uploads under the system temp directory. */
export async function importsOver(
  database: Database,
  options: { maxBytes?: number; queueLimit?: number; spoolDir?: string; uploadTimeoutMs?: number; uploadIdleMs?: number } = {},
): Promise<ImportsHttp> {
  const config = testConfig({
    ...(options.maxBytes === undefined ? {} : { ROSTER_IMPORT_MAX_BYTES: String(options.maxBytes) }),
    ...(options.spoolDir === undefined ? {} : { ROSTER_IMPORT_DIR: options.spoolDir }),
    ...(options.uploadTimeoutMs === undefined ? {} : { ROSTER_IMPORT_UPLOAD_TIMEOUT_MS: String(options.uploadTimeoutMs) }),
    ...(options.uploadIdleMs === undefined ? {} : { ROSTER_IMPORT_UPLOAD_IDLE_MS: String(options.uploadIdleMs) }),
  });
  const services = await servicesOver(database, {
    config,
    ...(options.queueLimit === undefined ? {} : { importQueueLimit: options.queueLimit }),
  });
  return importsHttp(config, services);
}

/**
 * The real app over a real database (SQLite file by default), wired like src/main.ts but
 * without listening: for `app.inject` tests. Requests carry an admin key unless they set
 * their own `authorization` (see withCredentials).
 */
export async function buildTestApp(open: () => Promise<TestDatabase> = sqliteTestDatabase, options: TestAppOptions = {}): Promise<TestApp> {
  const testDb = await open();
  const { database } = testDb;
  const logger = options.logger ?? testLogger();
  const services = await servicesOver(database, { logger });
  const auth = await testAuthFrom(services);
  const handle: TestApp = {
    app: undefined as unknown as FastifyInstance,
    auth,
    users: services.users,
    testDb,
    draining: false,
    closing: false,
    async close() {
      await handle.app.close();
      await testDb.cleanup();
    },
  };
  const readiness = { isDraining: () => handle.draining, isClosing: () => handle.closing, ping: () => database.ping(1000) };
  const app = await appFrom(services, logger, readiness, options);
  withCredentials(app, auth.adminKey);
  (handle as { app: FastifyInstance }).app = app;
  return handle;
}
