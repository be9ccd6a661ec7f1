/** Shared by the import service tests: a service over a test database, runs over text or files, counts. */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../../src/db/database.js';
import type { ImportJob, ImportSpec } from '../../src/imports/jobs/job.js';
import { ImportService, type ImportServiceOptions, type RunOptions, type RunResult } from '../../src/imports/service.js';
import { SqlImportJobStore } from '../../src/imports/jobs/sql-job-store.js';
import { batchWriterFor, isTransientImportError } from '../../src/compose/imports.js';

export function importService(database: Database, options: Partial<ImportServiceOptions> = {}): ImportService {
  return new ImportService({
    jobs: new SqlImportJobStore(database.db, database.dialect),
    writerFor: batchWriterFor(database),
    isTransient: isTransientImportError(database),
    newId: uuidv7,
    retry: { attempts: 5, baseDelayMs: 10, maxDelayMs: 50 },
    ...options,
  });
}

export function spec(overrides: Partial<ImportSpec> = {}): ImportSpec {
  return { format: 'csv', mode: 'create', events: 'per-user', dryRun: false, options: {}, source: 'test.csv', actor: 'test', ...overrides };
}

/** Runs a new job (or `job`) over `input`: text, or a file path as `{ file }`. */
export async function runImport(
  service: ImportService,
  input: string | { file: string },
  overrides: Partial<ImportSpec> = {},
  options: Partial<RunOptions> & { job?: ImportJob } = {},
): Promise<RunResult> {
  const job = options.job ?? (await service.create(spec(overrides)));
  const source = typeof input === 'string' ? Readable.from([Buffer.from(input)]) : createReadStream(input.file);
  return service.run(job, source, { signal: new AbortController().signal, ...options });
}

export async function count(database: Database, table: 'users' | 'events' | 'import_row_errors', where = sql`true`): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)} where ${where}`.execute(database.db);
  return Number(rows[0]!.n);
}

export interface UserRow {
  id: string;
  email: string;
  name: string;
  attributes: unknown;
  version: number;
}

export async function users(database: Database): Promise<UserRow[]> {
  const rows = await database.db.selectFrom('users').select(['id', 'email', 'name', 'attributes', 'version']).orderBy('id').execute();
  return rows.map((row) => ({ ...row, attributes: database.dialect.fromJson(row.attributes) }));
}

/** The provisioning fields of every user in id order, as the API reads them (active a boolean, profile parsed). */
export async function provisioning(
  database: Database,
): Promise<
  { id: string; active: boolean; external_id: string | null; given_name: string | null; family_name: string | null; profile: unknown }[]
> {
  const rows = await database.db
    .selectFrom('users')
    .select(['id', 'active', 'external_id', 'given_name', 'family_name', 'profile'])
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    ...row,
    active: row.active === true || row.active === 1,
    profile: database.dialect.fromJson(row.profile),
  }));
}
