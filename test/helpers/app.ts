import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { sharedSecret } from '../../src/db/database.js';
import { buildApp } from '../../src/http/app.js';
import { CursorCodec } from '../../src/kit/cursor.js';
import { createLogger } from '../../src/observability/logger.js';
import { SqlUserStore } from '../../src/users/sql-store.js';
import { UsersService } from '../../src/users/service.js';
import { sqliteTestDatabase, type TestDatabase } from './databases.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly users: UsersService;
  readonly testDb: TestDatabase;
  /** Flip to make /readyz report draining. */
  draining: boolean;
  close(): Promise<void>;
}

/**
 * The real app over a real database (SQLite file by default), wired like src/main.ts but
 * without listening: for `app.inject` tests. Logs are silent unless LOG_LEVEL is set.
 */
export async function buildTestApp(open: () => Promise<TestDatabase> = sqliteTestDatabase): Promise<TestApp> {
  const testDb = await open();
  const { database } = testDb;
  const users = new UsersService({
    store: new SqlUserStore(database.db, database.dialect),
    cursors: new CursorCodec(await sharedSecret(database.db, 'cursor_hmac_key')),
    newId: uuidv7,
    idempotencyTtlMs: 24 * 3_600_000,
  });
  const handle: TestApp = {
    app: undefined as unknown as FastifyInstance,
    users,
    testDb,
    draining: false,
    async close() {
      await handle.app.close();
      await testDb.cleanup();
    },
  };
  const app = await buildApp({
    logger: createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'silent'),
    users,
    bodyLimitBytes: 64 * 1024,
    readiness: { isDraining: () => handle.draining, ping: () => database.ping(1000) },
  });
  (handle as { app: FastifyInstance }).app = app;
  return handle;
}
