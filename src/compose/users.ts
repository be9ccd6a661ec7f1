import type { Database } from '../db/database.js';
import type { UserStore } from '../users/service.js';
import { SqlUserStore } from '../users/sql-store.js';
import { PostgresUserStore } from '../users/sql-postgres-store.js';

/**
 * The UserStore for the database's dialect: on PostgreSQL the store over the pg pool (prepared
 * statements, a create in one round trip), elsewhere SqlUserStore over Kysely. The tests build
 * their stores here too, so they exercise what `serve` runs.
 */
export function userStoreFor(database: Database): UserStore {
  if (database.driver.kind === 'postgres') return new PostgresUserStore(database.driver.pool, database.observeStatement);
  return new SqlUserStore(database.db, database.dialect);
}
