import type { ImportFormat } from '../read/parse.js';
import type { ImportCounts } from './report.js';
import type { ImportField } from '../read/rows.js';

/** The most row errors kept per import job; beyond it they are only counted (`failed`). */
export const ROW_ERRORS_KEPT_PER_JOB = 100_000;

export type ImportMode = 'create' | 'upsert';
export const IMPORT_MODES: readonly ImportMode[] = ['create', 'upsert'];
/** `per-user`: a user.created/user.updated event per row written; `summary`: one users.imported event per run. */
export type EventsMode = 'per-user' | 'summary';
export const EVENTS_MODES: readonly EventsMode[] = ['per-user', 'summary'];
export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/** How the file is read: kept with the job so a resumed run reads it the same way. */
export interface ReadOptions {
  readonly map?: Readonly<Record<string, ImportField>>;
  readonly ignoreUnknown?: boolean;
}

/** What a caller asks for when starting an import. */
export interface ImportSpec {
  readonly format: ImportFormat;
  readonly mode: ImportMode;
  readonly events: EventsMode;
  readonly dryRun: boolean;
  readonly options: ReadOptions;
  /** The file name, `-` for stdin, or `upload`. */
  readonly source: string;
  /** Where an uploaded body was spooled, to be read (and resumed) from. */
  readonly spoolPath?: string | undefined;
  readonly totalBytes?: number | undefined;
  readonly actor?: string | undefined;
}

export interface ImportJob extends ImportSpec {
  readonly id: string;
  readonly status: JobStatus;
  readonly counts: ImportCounts;
  /** Row errors stored for download; beyond ROW_ERRORS_KEPT_PER_JOB they are only counted. */
  readonly errorsKept: number;
  /** The last file line of the last committed batch: a resumed run starts after it. */
  readonly committedLine: number;
  /** Why the job failed as a whole (a file error or a permanent database error). */
  readonly error?: string | undefined;
  readonly createdAt: Date;
  readonly startedAt?: Date | undefined;
  readonly finishedAt?: Date | undefined;
  readonly updatedAt: Date;
  /** The process running the job (kit/lease-owner.ts), while it holds the lease. */
  readonly leaseOwner?: string | undefined;
  /** When the lease lapses unless renewed; an expired lease is free for anyone. */
  readonly leaseExpiresAt?: Date | undefined;
}

export function isFinished(status: JobStatus): boolean {
  return FINISHED_STATUSES.includes(status);
}

/** The JSON form of a job (snake_case like the rest of the API). */
export interface ImportJobDocument {
  readonly id: string;
  readonly status: JobStatus;
  readonly format: string;
  readonly mode: ImportMode;
  readonly events: EventsMode;
  readonly dry_run: boolean;
  readonly source: string;
  readonly total_bytes: number | null;
  readonly counts: ImportCounts;
  readonly errors_kept: number;
  readonly committed_line: number;
  readonly error: string | null;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
}

/** The JSON form of a job: the CLI's last line and the HTTP API's body. */
export function jobDocument(job: ImportJob): ImportJobDocument {
  return {
    id: job.id,
    status: job.status,
    format: job.format,
    mode: job.mode,
    events: job.events,
    dry_run: job.dryRun,
    source: job.source,
    total_bytes: job.totalBytes ?? null,
    counts: job.counts,
    errors_kept: job.errorsKept,
    committed_line: job.committedLine,
    error: job.error ?? null,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
  };
}
