import { Migrator, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import { usersMigration } from './migrations/0001_users.js';
import { apiKeysMigration } from './migrations/0002_api_keys.js';
import { eventsMigration } from './migrations/0003_events.js';
import { webhooksMigration } from './migrations/0004_webhooks.js';
import { importsMigration } from './migrations/0005_imports.js';
import { importLeasesMigration } from './migrations/0006_import_leases.js';
import { emailKeyIndexMigration } from './migrations/0007_email_key_index.js';
import { foldKeysMigration } from './migrations/0008_fold_keys.js';
import { searchKeyRangesMigration } from './migrations/0009_search_key_ranges.js';
import { postgresUuidIdsMigration } from './migrations/0010_postgres_uuid_ids.js';
import { userProvisioningFieldsMigration } from './migrations/0011_user_provisioning_fields.js';
import { groupsMigration } from './migrations/0012_groups.js';
import { eventSequencerMigration } from './migrations/0014_event_sequencer.js';
import { consoleSessionsMigration } from './migrations/0015_console_sessions.js';
import { eventsSubjectIndexMigration } from './migrations/0016_events_subject_index.js';

export type DialectName = 'sqlite' | 'postgres';

/**
 * The versioned migrations, in order. Compiled into the build (no file globbing at run time),
 * so `roster migrate` works from any working directory.
 */
function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_users': usersMigration(dialect),
    '0002_api_keys': apiKeysMigration(dialect),
    '0003_events': eventsMigration(dialect),
    '0004_webhooks': webhooksMigration(dialect),
    '0005_imports': importsMigration(dialect),
    '0006_import_leases': importLeasesMigration(dialect),
    '0007_email_key_index': emailKeyIndexMigration(dialect),
    '0008_fold_keys': foldKeysMigration(dialect),
    '0009_search_key_ranges': searchKeyRangesMigration(dialect),
    '0010_postgres_uuid_ids': postgresUuidIdsMigration(dialect),
    '0011_user_provisioning_fields': userProvisioningFieldsMigration(dialect),
    '0012_groups': groupsMigration(dialect),
    '0014_event_sequencer': eventSequencerMigration(dialect),
    '0015_console_sessions': consoleSessionsMigration(dialect),
    '0016_events_subject_index': eventsSubjectIndexMigration(dialect),
  };
}

export async function createMigrator<DB>(db: Kysely<DB>, dialect: DialectName): Promise<Migrator> {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations(dialect)) },
    migrationTableName: 'roster_migrations',
    migrationLockTableName: 'roster_migrations_lock',
    // Without an explicit schema Kysely looks for its tables in every schema of the database, so
    // a second Roster schema in one database would see the first one's tables and fail.
    ...(dialect === 'postgres' ? { migrationTableSchema: await currentSchema(db) } : {}),
  });
}

async function currentSchema<DB>(db: Kysely<DB>): Promise<string> {
  let schema: string | undefined;
  try {
    ({
      rows: [{ schema } = { schema: undefined }],
    } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db));
  } catch (cause) {
    throw new MigrationError('migrations could not run', { cause });
  }
  if (!schema) throw new MigrationError('the PostgreSQL connection has no current schema (check search_path)');
  return schema;
}

/** A migration run failed; `cause` is the database error. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every pending migration (PostgreSQL takes an advisory lock, so instances can race safely). */
export async function migrateToLatest<DB>(db: Kysely<DB>, dialect: DialectName): Promise<MigrationResultSet> {
  return unwrap(await (await createMigrator(db, dialect)).migrateToLatest());
}

export async function migrateDown<DB>(db: Kysely<DB>, dialect: DialectName): Promise<MigrationResultSet> {
  return unwrap(await (await createMigrator(db, dialect)).migrateDown());
}

/** Applies or reverts migrations until `name` is the last one applied (the tests and benches of one migration). */
export async function migrateTo<DB>(db: Kysely<DB>, dialect: DialectName, name: string): Promise<MigrationResultSet> {
  return unwrap(await (await createMigrator(db, dialect)).migrateTo(name));
}

export async function migrationStatus<DB>(db: Kysely<DB>, dialect: DialectName): Promise<{ name: string; executedAt?: Date }[]> {
  const all = await (await createMigrator(db, dialect)).getMigrations();
  return all.map((m) => ({ name: m.name, ...(m.executedAt ? { executedAt: m.executedAt } : {}) }));
}

function unwrap(result: MigrationResultSet): MigrationResultSet {
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    throw new MigrationError(failed ? `migration ${failed} failed` : 'migrations could not run', { cause: result.error });
  }
  return result;
}

/** A user whose email folds onto another user's key: it kept its old key (migration 0008). */
export interface KeyConflict {
  readonly userId: string;
  readonly email: string;
  readonly keptKey: string;
  readonly foldedKey: string;
  /** The user that holds the folded key. */
  readonly holderId: string;
}

/**
 * The conflicts migration 0008 recorded that are still open: the user still has that email and
 * the key it kept (an operator fixes one by changing an email, or merging and deleting). Empty
 * before 0008 runs.
 */
export async function openKeyConflicts<DB>(db: Kysely<DB>, dialect: DialectName): Promise<KeyConflict[]> {
  const applied = await migrationStatus(db, dialect);
  if (!applied.some((m) => m.name === '0008_fold_keys' && m.executedAt !== undefined)) return [];
  const { rows } = await sql<{ user_id: string; email: string; kept_key: string; folded_key: string; holder_id: string }>`
    select c.user_id, c.email, c.kept_key, c.folded_key, c.holder_id from user_key_conflicts c
    join users u on u.id = c.user_id and u.email = c.email and u.email_key = c.kept_key
    order by c.user_id`.execute(db);
  return rows.map((r) => ({ userId: r.user_id, email: r.email, keptKey: r.kept_key, foldedKey: r.folded_key, holderId: r.holder_id }));
}
