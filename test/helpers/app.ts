import type { FastifyInstance, InjectOptions } from 'fastify';
import { Authenticator } from '../../src/auth/authenticator.js';
import type { Scope } from '../../src/auth/model.js';
import { ApiKeysService } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import type { Database } from '../../src/db/database.js';
import { v7 as uuidv7 } from 'uuid';
import { sharedSecret } from '../../src/db/database.js';
import { buildApp, type AppDependencies } from '../../src/http/app.js';
import { CursorCodec } from '../../src/kit/cursor.js';
import { createLogger } from '../../src/observability/logger.js';
import { SqlUserStore } from '../../src/users/sql-store.js';
import { UsersService } from '../../src/users/service.js';
import { EventsService } from '../../src/events/service.js';
import { SqlEventStore } from '../../src/events/sql-store.js';
import { sqliteTestDatabase, type TestDatabase } from './databases.js';
import { WebhooksService } from '../../src/webhooks/service.js';
import { SqlWebhookStore } from '../../src/webhooks/sql-store.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImportsHttp } from '../../src/http/imports.routes.js';
import { exportUsers } from '../../src/imports/export/export.js';
import { ImportRunner } from '../../src/imports/jobs/runner.js';
import { ImportService } from '../../src/imports/service.js';
import { SqlImportJobStore } from '../../src/imports/jobs/sql-job-store.js';
import { batchWriterFor, isTransientImportError } from '../../src/imports/write/writers.js';

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
  const apiKeys = new ApiKeysService({ store: new SqlApiKeyStore(database.db, database.dialect), cacheTtlMs: 0 });
  const keyWith: TestAuth['keyWith'] = async (scopes, options = {}) => {
    const { record, plaintext } = await apiKeys.create({ name: `test ${scopes.join(' ')}`, scopes, ...options });
    return { id: record.id, key: plaintext };
  };
  const { key: adminKey } = await keyWith(['admin']);
  return { apiKeys, authenticator: new Authenticator(apiKeys), adminKey, keyWith };
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

/** What a test may set on the app; the rest is wired as in src/main.ts. */
export type TestAppOptions = Partial<
  Pick<
    AppDependencies,
    'rateLimits' | 'trustProxy' | 'corsOrigins' | 'metrics' | 'requestTimeoutMs' | 'shedding' | 'logger' | 'serverTimeouts'
  >
>;

/**
 * Limits no ordinary test reaches; the abuse tests (test/http/abuse.api.test.ts) set small ones.
 * Every injected request comes from 127.0.0.1, so a realistic per-IP limit would bite here.
 */
export const GENEROUS_RATE_LIMITS = { perCredentialPerMinute: 1_000_000, perIpPerMinute: 1_000_000 } as const;

/** The users service over `database`, wired as in src/main.ts; tests may fix its ids. */
export async function usersServiceOver(database: Database, options: { newId?: () => string } = {}): Promise<UsersService> {
  return new UsersService({
    store: new SqlUserStore(database.db, database.dialect),
    cursors: new CursorCodec(await sharedSecret(database.db, 'cursor_hmac_key')),
    newId: options.newId ?? uuidv7,
    idempotencyTtlMs: 24 * 3_600_000,
  });
}

/**
 * The app over an open database, wired like src/main.ts (services, generous rate limits, a
 * silent log unless LOG_LEVEL is set); `overrides` replace any dependency (a JWT-enabled
 * authenticator, a log sink, small limits). Not listening: for `app.inject`, or `listen()`.
 */
export async function appOver(database: Database, overrides: Partial<AppDependencies> = {}): Promise<FastifyInstance> {
  const apiKeys = overrides.apiKeys ?? new ApiKeysService({ store: new SqlApiKeyStore(database.db, database.dialect), cacheTtlMs: 0 });
  return buildApp({
    logger: createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'silent'),
    users: await usersServiceOver(database),
    events: new EventsService({ store: new SqlEventStore(database.db, database.dialect) }),
    webhooks: new WebhooksService({
      store: new SqlWebhookStore(database.db, database.dialect),
      newId: uuidv7,
      secretGraceMs: 24 * 3_600_000,
    }),
    apiKeys,
    authenticator: new Authenticator(apiKeys),
    bodyLimitBytes: 64 * 1024,
    readiness: { isDraining: () => false, isClosing: () => false, ping: () => database.ping(1000) },
    rateLimits: GENEROUS_RATE_LIMITS,
    // Test processes share two cores with other test files: a scheduling stall must not turn a
    // test's request into a 503. Shedding has its own test (test/http/deadline-shedding.api.test.ts).
    shedding: NO_SHEDDING,
    imports: importsOver(database),
    ...overrides,
  });
}

/** Import and export over `database`, wired as in src/main.ts, spooling uploads under the system temp directory. */
export function importsOver(
  database: Database,
  options: { maxBytes?: number; queueLimit?: number; spoolDir?: string; uploadTimeoutMs?: number; uploadIdleMs?: number } = {},
): ImportsHttp {
  const service = new ImportService({
    jobs: new SqlImportJobStore(database.db, database.dialect),
    writerFor: batchWriterFor(database),
    isTransient: isTransientImportError(database),
    newId: uuidv7,
  });
  return {
    service,
    runner: new ImportRunner({ service, concurrency: 1, queueLimit: options.queueLimit ?? 4 }),
    spoolDir: options.spoolDir ?? join(tmpdir(), 'roster-test-imports'),
    maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
    uploadTimeoutMs: options.uploadTimeoutMs ?? 15 * 60_000,
    uploadIdleMs: options.uploadIdleMs ?? 30_000,
    exportUsers: (exportOptions) => exportUsers(database, exportOptions),
  };
}

/** Load shedding off: no event-loop or utilisation threshold, a heap threshold nothing reaches. */
export const NO_SHEDDING = { eventLoopDelayMs: 0, heapUsedMb: 1_000_000, eventLoopUtilization: 0 } as const;

/**
 * The real app over a real database (SQLite file by default), wired like src/main.ts but
 * without listening: for `app.inject` tests. Requests carry an admin key unless they set
 * their own `authorization` (see withCredentials).
 */
export async function buildTestApp(open: () => Promise<TestDatabase> = sqliteTestDatabase, options: TestAppOptions = {}): Promise<TestApp> {
  const testDb = await open();
  const { database } = testDb;
  const users = await usersServiceOver(database);
  const auth = await testAuth(database);
  const handle: TestApp = {
    app: undefined as unknown as FastifyInstance,
    auth,
    users,
    testDb,
    draining: false,
    closing: false,
    async close() {
      await handle.app.close();
      await testDb.cleanup();
    },
  };
  const app = await appOver(database, {
    users,
    apiKeys: auth.apiKeys,
    authenticator: auth.authenticator,
    readiness: { isDraining: () => handle.draining, isClosing: () => handle.closing, ping: () => database.ping(1000) },
    ...options,
  });
  withCredentials(app, auth.adminKey);
  (handle as { app: FastifyInstance }).app = app;
  return handle;
}
