import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * PostgreSQL stores the ids Roster hands out (UUIDs, lower-case text until now) as `uuid`: 16
 * bytes instead of 37, in the heap and in every index on them. At 10M users `users_pkey` was
 * 741 MB of text; the figures at 1M are in bench/RESULTS.md ("PostgreSQL uuid ids").
 *
 * Which columns, and why each is safe: every value in them was made by newUuidV7() or checked by
 * parseUserId() (an import's given ids), so each is a lower-case UUID, and the driver reads a
 * `uuid` back as the same lower-case text: the API's ids do not change.
 * - users.id, users.imported_by (an import job's id);
 * - events.id and events.subject_id: every subject is a user, a webhook endpoint
 *   (`webhook_endpoint.disabled`) or an import job (`users.imported`), all UUIDv7;
 * - webhook_endpoints.id; webhook_attempts.id, .endpoint_id, .event_id; webhook_replays.endpoint_id;
 * - import_jobs.id, import_row_errors.job_id;
 * - user_key_conflicts.user_id and .holder_id (user ids; joined with users.id by openKeyConflicts()).
 * Left as text: api_keys.id (16 hex digits, not a UUID), events.actor (`key:<id>`, `jwt:<sub>`),
 * events.request_id (the caller's X-Request-Id), idempotency_keys (the caller's scope and key;
 * the user id it remembers is inside the JSON result) and lease owners.
 *
 * Keyset order does not move: uuid compares its 16 bytes in order, which is the order of their
 * lower-case hex text (the hyphens sit at the same places in every id), so a cursor or `after`
 * id issued before this migration continues at the same place after it.
 *
 * Each ALTER rewrites its table and rebuilds every index on it (all of them, not only the id's)
 * under an ACCESS EXCLUSIVE lock held to the commit of the whole migration run: reads and writes
 * of those tables wait meanwhile (docs/operations.md has the measured durations). Foreign keys
 * between changed columns are dropped first and added back after. A value that is not a
 * lower-case UUID stops the migration before anything is rewritten, naming it (a cast would take
 * an upper-case one and hand it back changed).
 *
 * SQLite has no uuid type (a column's declared type is only an affinity there): its ids stay
 * text, and this migration does nothing on it.
 */
export function postgresUuidIdsMigration(dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      for (const [table, columns] of ID_COLUMNS) {
        for (const column of columns) await refuseNonUuid(db, table, column);
      }
      await dropForeignKeys(db);
      // 0009's (name_key, id) index collates id "C", which uuid does not take: uuid's order is already byte order.
      await sql`drop index users_name_key_id`.execute(db);
      for (const [table, columns] of ID_COLUMNS) await retype(db, table, columns, 'uuid');
      await sql`create index users_name_key_id on users (name_key collate "C", id)`.execute(db);
      await addForeignKeys(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await dropForeignKeys(db);
      await sql`drop index users_name_key_id`.execute(db);
      for (const [table, columns] of ID_COLUMNS) await retype(db, table, columns, 'text');
      await sql`create index users_name_key_id on users (name_key collate "C", id collate "C")`.execute(db);
      await addForeignKeys(db);
    },
  };
}

/** The id columns that become uuid, per table: one ALTER TABLE (one rewrite) per table. */
const ID_COLUMNS: readonly (readonly [string, readonly string[]])[] = [
  ['users', ['id', 'imported_by']],
  ['events', ['id', 'subject_id']],
  ['webhook_endpoints', ['id']],
  ['webhook_attempts', ['id', 'endpoint_id', 'event_id']],
  ['webhook_replays', ['endpoint_id']],
  ['import_jobs', ['id']],
  ['import_row_errors', ['job_id']],
  ['user_key_conflicts', ['user_id', 'holder_id']],
];

/** The foreign keys between those columns, as 0004 and 0005 created them (PostgreSQL's default names). */
const FOREIGN_KEYS: readonly { table: string; name: string; column: string; references: string }[] = [
  { table: 'webhook_attempts', name: 'webhook_attempts_endpoint_id_fkey', column: 'endpoint_id', references: 'webhook_endpoints' },
  { table: 'webhook_replays', name: 'webhook_replays_endpoint_id_fkey', column: 'endpoint_id', references: 'webhook_endpoints' },
  { table: 'import_row_errors', name: 'import_row_errors_job_id_fkey', column: 'job_id', references: 'import_jobs' },
];

const LOWER_CASE_UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

async function refuseNonUuid(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  const { rows } = await sql<{ value: string }>`select ${sql.ref(column)} as value from ${sql.table(table)}
    where ${sql.ref(column)} !~ ${LOWER_CASE_UUID} limit 1`.execute(db);
  const found = rows[0];
  if (found !== undefined) {
    throw new Error(
      `${table}.${column} holds ${JSON.stringify(found.value.slice(0, 100))}, which is not a lower-case UUID: ` +
        'nothing was changed; fix or remove such rows, then run the migration again',
    );
  }
}

async function retype(db: Kysely<unknown>, table: string, columns: readonly string[], type: 'uuid' | 'text'): Promise<void> {
  const changes = columns.map((c) => sql`alter column ${sql.ref(c)} type ${sql.raw(type)} using ${sql.ref(c)}::${sql.raw(type)}`);
  await sql`alter table ${sql.table(table)} ${sql.join(changes)}`.execute(db);
}

async function dropForeignKeys(db: Kysely<unknown>): Promise<void> {
  for (const fk of FOREIGN_KEYS) await sql`alter table ${sql.table(fk.table)} drop constraint ${sql.ref(fk.name)}`.execute(db);
}

async function addForeignKeys(db: Kysely<unknown>): Promise<void> {
  for (const fk of FOREIGN_KEYS) {
    await sql`alter table ${sql.table(fk.table)} add constraint ${sql.ref(fk.name)} foreign key (${sql.ref(fk.column)})
      references ${sql.table(fk.references)} (id) on delete cascade`.execute(db);
  }
}
