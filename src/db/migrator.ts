import { Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import { usersMigration } from './migrations/0001_users.js';

export type DialectName = 'sqlite' | 'postgres';

/**
 * The versioned migrations, in order. Compiled into the build (no file globbing at run time),
 * so `roster migrate` works from any working directory.
 */
function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_users': usersMigration(dialect),
  };
}

export function createMigrator<DB>(db: Kysely<DB>, dialect: DialectName): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations(dialect)) },
    migrationTableName: 'roster_migrations',
    migrationLockTableName: 'roster_migrations_lock',
  });
}

/** A migration run failed; `cause` is the database error. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every pending migration (PostgreSQL takes an advisory lock, so instances can race safely). */
export async function migrateToLatest<DB>(db: Kysely<DB>, dialect: DialectName): Promise<MigrationResultSet> {
  return unwrap(await createMigrator(db, dialect).migrateToLatest());
}

export async function migrateDown<DB>(db: Kysely<DB>, dialect: DialectName): Promise<MigrationResultSet> {
  return unwrap(await createMigrator(db, dialect).migrateDown());
}

export async function migrationStatus<DB>(db: Kysely<DB>, dialect: DialectName): Promise<{ name: string; executedAt?: Date }[]> {
  const all = await createMigrator(db, dialect).getMigrations();
  return all.map((m) => ({ name: m.name, ...(m.executedAt ? { executedAt: m.executedAt } : {}) }));
}

function unwrap(result: MigrationResultSet): MigrationResultSet {
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    throw new MigrationError(failed ? `migration ${failed} failed` : 'migrations could not run', { cause: result.error });
  }
  return result;
}
