import type { Database } from '../db/database.js';
import type { UserStore } from '../users/service.js';
import { PostgresUserStore } from '../users/sql-postgres-store.js';
import { SqliteUserStore } from '../users/sqlite-store.js';

/**
 * The UserStore for the database's dialect: on PostgreSQL the store over the pg pool (prepared
 * statements, a create in one round trip), on SQLite prepared statements stepped in one
 * synchronous transaction per change. The tests build their stores here too, so they exercise
 * what `serve` runs. `onEventsCommitted` hears of every committed change (events/commits.ts).
 */
export function userStoreFor(database: Database, options: { onEventsCommitted?: () => void } = {}): UserStore {
  const driver = database.driver;
  if (driver.kind === 'postgres') return new PostgresUserStore(driver.pool, database.observeStatement, options.onEventsCommitted);
  return new SqliteUserStore({
    db: database.db,
    connection: driver.connection,
    observe: database.observeStatement,
    onEventsCommitted: options.onEventsCommitted,
  });
}
