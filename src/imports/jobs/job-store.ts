import type { NewEvent } from '../../events/model.js';
import type { ImportJob, ImportSpec, JobStatus } from './job.js';
import type { RowError } from '../read/rows.js';

/**
 * The job store port the service owns (SqlImportJobStore is its adapter). Each method stops
 * before its work once `signal` aborted.
 */
export interface ImportJobStore {
  create(id: string, spec: ImportSpec, now: Date, signal?: AbortSignal): Promise<ImportJob>;
  get(id: string, signal?: AbortSignal): Promise<ImportJob | undefined>;
  listByStatus(statuses: readonly JobStatus[], signal?: AbortSignal): Promise<ImportJob[]>;
  /** At most `limit` jobs, newest first, created before the job `before` when given (keyset on the UUIDv7 id). */
  listRecent(limit: number, before?: string, signal?: AbortSignal): Promise<ImportJob[]>;
  /** Pending or running jobs that have a spooled file. */
  listUnfinishedUploads(signal?: AbortSignal): Promise<ImportJob[]>;
  /** One conditional update: the lease if free, expired, `owner`'s or `takeOverFrom`'s; undefined when refused. */
  claim(
    id: string,
    owner: string,
    now: Date,
    until: Date,
    options?: { takeOverFrom?: string | undefined; unfinishedOnly?: boolean },
    signal?: AbortSignal,
  ): Promise<ImportJob | undefined>;
  renew(id: string, owner: string, until: Date, signal?: AbortSignal): Promise<boolean>;
  release(id: string, owner: string, signal?: AbortSignal): Promise<void>;
  /** These three write only while `owner` holds the lease, else throw LeaseLostError. */
  markRunning(id: string, owner: string, now: Date, signal?: AbortSignal): Promise<ImportJob>;
  finish(
    id: string,
    owner: string,
    status: JobStatus,
    error: string | undefined,
    now: Date,
    event?: NewEvent,
    signal?: AbortSignal,
  ): Promise<ImportJob>;
  suspend(id: string, owner: string, now: Date, event?: NewEvent, signal?: AbortSignal): Promise<ImportJob>;
  /** The stored row errors in line order, from the line after `afterLine` (default: the first). */
  rowErrors(id: string, signal?: AbortSignal, afterLine?: number): AsyncIterable<RowError>;
}
