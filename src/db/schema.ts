import type { ColumnType } from 'kysely';

/** SQLite keeps ISO-8601 text (sortable, readable); PostgreSQL keeps timestamptz. */
export type Timestamp = ColumnType<Date | string, Date | string, Date | string>;
/** SQLite keeps JSON text; PostgreSQL keeps jsonb and returns it parsed. */
export type Json = ColumnType<unknown, string, string>;

export interface UsersTable {
  /** Lower-case UUID text; PostgreSQL stores every id column but api_keys.id as uuid (migration 0010) and returns that same text. */
  id: string;
  email: string;
  /** foldKey(email) (users/model.ts); the unique index that makes emails unique ignoring case. */
  email_key: string;
  name: string;
  /** foldKey(name), for prefix search ignoring case. */
  name_key: string;
  /** Migration 0011: SQLite 1/0, PostgreSQL boolean. */
  active: ColumnType<boolean | number, boolean | number | undefined, boolean | number>;
  /** The identity provider's id; unique where not null, compared exactly. */
  external_id: string | null;
  given_name: string | null;
  family_name: string | null;
  attributes: Json;
  /** Standard profile data (users/profile.ts); '{}' by default. */
  profile: ColumnType<unknown, string | undefined, string>;
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

/** SQLite keeps 0/1 integers; PostgreSQL keeps boolean. */
export type Bool = ColumnType<boolean | number, boolean | number, boolean | number>;
/** A sequence number: SQLite integer, PostgreSQL bigint (returned as a string). */
export type Seq = ColumnType<number | string, number, number>;

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string;
  /** JSON array of event types; null: every type. */
  event_types: Json | null;
  enabled: Bool;
  ordered: ColumnType<boolean | number, boolean | number | undefined, boolean | number>;
  /** JSON list of { secret, expires_at | null }: every secret that signs now. */
  secrets: Json;
  created_at: Timestamp;
  updated_at: Timestamp;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  /** Sequence of the last event handled for this endpoint. */
  cursor: Seq;
  next_attempt_at: Timestamp;
  /** Attempt number of the head event. */
  attempt: ColumnType<number, number | undefined, number>;
  /** Start of the current failure streak (the horizon is counted from here). */
  failing_since: Timestamp | null;
  lease_owner: string | null;
  lease_until: Timestamp | null;
}

export interface WebhookAttemptsTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_seq: Seq;
  attempt: number;
  attempted_at: Timestamp;
  outcome: string;
  status: number | null;
  latency_ms: number;
  error_code: string | null;
  error_message: string | null;
  response_body: string;
  replay: Bool;
}

export interface WebhookReplaysTable {
  endpoint_id: string;
  event_seq: Seq;
  next_attempt_at: Timestamp;
  attempt: number;
  /** Bumped by every replay request; a settlement removes or reschedules only the one it took. */
  generation: ColumnType<number, number | undefined, number>;
  first_attempt_at: Timestamp | null;
  /** True: asked for by a replay; false: a parked retry of an unordered endpoint. */
  replay: Bool;
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
  /** The process running the job (kit/lease-owner.ts), until `lease_expires_at`. */
  lease_owner: ColumnType<string | null, string | null | undefined, string | null>;
  lease_expires_at: ColumnType<Date | string | null, Date | string | null | undefined, Date | string | null>;
}

export interface ImportRowErrorsTable {
  job_id: string;
  line: number;
  field: string | null;
  reason: string;
}

/** A console sign-in (src/console/); `id` is the SHA-256 of the cookie's token, hex. */
export interface ConsoleSessionsTable {
  id: string;
  key_id: string;
  csrf_secret: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  idle_expires_at: Timestamp;
  absolute_expires_at: Timestamp;
}

export interface Schema {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_replays: WebhookReplaysTable;
  import_jobs: ImportJobsTable;
  import_row_errors: ImportRowErrorsTable;
  events: EventsTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  idempotency_keys: IdempotencyKeysTable;
  roster_meta: MetaTable;
  console_sessions: ConsoleSessionsTable;
}
