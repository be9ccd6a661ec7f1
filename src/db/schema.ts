import type { ColumnType } from 'kysely';

/** SQLite keeps ISO-8601 text (sortable, readable); PostgreSQL keeps timestamptz. */
export type Timestamp = ColumnType<Date | string, Date | string, Date | string>;
/** SQLite keeps JSON text; PostgreSQL keeps jsonb and returns it parsed. */
export type Json = ColumnType<unknown, string, string>;

export interface UsersTable {
  id: string;
  email: string;
  /** Lower-cased email; the unique index that makes emails case-insensitively unique. */
  email_key: string;
  name: string;
  /** Lower-cased name, for case-insensitive prefix search. */
  name_key: string;
  attributes: Json;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  fingerprint: string;
  /** The user the first request created, as JSON, replayed verbatim. */
  result: Json;
  created_at: Timestamp;
  expires_at: Timestamp;
}

/** Small key/value facts the instances of one deployment share, such as the cursor key. */
export interface MetaTable {
  key: string;
  value: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  /** JSON array of scope names. */
  scopes: Json;
  /** SHA-256 of the secret, hex. */
  secret_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface EventsTable {
  /** Generated: SQLite INTEGER PRIMARY KEY, PostgreSQL identity (bigint, returned as a string). */
  seq: ColumnType<number | string, never, never>;
  id: string;
  type: string;
  occurred_at: Timestamp;
  actor: string | null;
  request_id: string | null;
  subject_id: string;
  data: Json;
}

export interface ImportJobsTable {
  id: string;
  status: string;
  format: string;
  mode: string;
  events: string;
  /** 0 or 1. */
  dry_run: number;
  options: Json;
  source: string;
  spool_path: string | null;
  /** bigint on PostgreSQL: returned as a string. */
  total_bytes: ColumnType<number | string | null, number | null, number | null>;
  read: ColumnType<number, number | undefined, number>;
  created: ColumnType<number, number | undefined, number>;
  updated: ColumnType<number, number | undefined, number>;
  skipped: ColumnType<number, number | undefined, number>;
  failed: ColumnType<number, number | undefined, number>;
  errors_kept: ColumnType<number, number | undefined, number>;
  committed_line: ColumnType<number, number | undefined, number>;
  error: string | null;
  actor: string | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface ImportRowErrorsTable {
  job_id: string;
  line: number;
  field: string | null;
  reason: string;
}

export interface Schema {
  import_jobs: ImportJobsTable;
  import_row_errors: ImportRowErrorsTable;
  events: EventsTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  idempotency_keys: IdempotencyKeysTable;
  roster_meta: MetaTable;
}
