import type { Database } from '../db/database.js';
import { PostgresGroupStore } from '../groups/sql-postgres-store.js';
import { SqliteGroupStore } from '../groups/sqlite-store.js';
import type { GroupStore } from '../groups/service.js';
import { newUuidV7 } from '../kit/uuid.js';
import type { UserStore } from '../users/service.js';
import { PostgresUserStore } from '../users/sql-postgres-store.js';
import { SqliteUserStore } from '../users/sqlite-store.js';

export interface StoreOptions {
  readonly onEventsCommitted?: () => void;
  /** Ids of the events the stores write themselves (a deleted user's membership events); default UUIDv7. */
  readonly newId?: () => string;
}

/**
 * The UserStore for the database's dialect: on PostgreSQL the store over the pg pool (prepared
 * statements, a create in one round trip), on SQLite prepared statements stepped in one
 * synchronous transaction per change. The tests build their stores here too, so they exercise
 * what `serve` runs. `onEventsCommitted` hears of every committed change (events/commits.ts).
 *
 * A user's deletion removes its group memberships in the same transaction: users/ owns the
 * users table and groups/ its tables, so the users store runs a hook the groups adapter of the
 * same dialect provides (on the same connection or transaction), wired only here.
 */
export function userStoreFor(database: Database, options: StoreOptions = {}): UserStore {
  const driver = database.driver;
  const newId = options.newId ?? newUuidV7;
  if (driver.kind === 'postgres') {
    const groups = new PostgresGroupStore(driver.pool, database.observeStatement);
    return new PostgresUserStore(driver.pool, database.observeStatement, options.onEventsCommitted, groups.removeUserEverywhere(newId));
  }
  const groups = new SqliteGroupStore({ db: database.db, connection: driver.connection, observe: database.observeStatement });
  return new SqliteUserStore({
    db: database.db,
    connection: driver.connection,
    observe: database.observeStatement,
    onEventsCommitted: options.onEventsCommitted,
    onDelete: groups.removeUserEverywhere(newId),
  });
}

/** The GroupStore for the database's dialect (as userStoreFor()). */
export function groupStoreFor(database: Database, options: StoreOptions = {}): GroupStore {
  const driver = database.driver;
  if (driver.kind === 'postgres') return new PostgresGroupStore(driver.pool, database.observeStatement, options.onEventsCommitted);
  return new SqliteGroupStore({
    db: database.db,
    connection: driver.connection,
    observe: database.observeStatement,
    onEventsCommitted: options.onEventsCommitted,
  });
}
