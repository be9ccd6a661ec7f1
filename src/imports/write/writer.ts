import { ROW_ERRORS_KEPT_PER_JOB } from '../jobs/job.js';
import type { EventContext } from '../../events/model.js';
import type { BatchFinding, UserBatchResult, UserBatchRun, UserBatchWriter } from '../../users/batch-store.js';
import { decodedBatch, rowCount, type Batch } from '../read/batch.js';
import type { CreatesEncoding } from '../../users/sqlite-batch-rows.js';
import { LeaseLostError } from '../errors.js';
import type { EventsMode, ImportMode } from '../jobs/job.js';
import type { RowError } from '../read/rows.js';

/** What a batch writer needs to know of its job. */
export interface WriterJob {
  readonly id: string;
  readonly mode: ImportMode;
  readonly events: EventsMode;
  readonly dryRun: boolean;
  /** Row errors the job already stored (they are capped per job). */
  readonly errorsKept: number;
  readonly context: EventContext;
  /** The run's lease owner: each batch's progress update must still find it on the job row. */
  readonly leaseOwner: string;
}

/** What one committed batch did. Every row of the batch is counted once. */
export interface BatchOutcome {
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  readonly skipped: number;
  readonly failed: number;
  /** Row errors found by the database (an email taken, a duplicate), on top of the batch's rejected rows. */
  readonly errors: readonly RowError[];
}

/**
 * Writes one batch in one transaction: its users, their events, its row errors and the job's
 * progress (counters and `committed_line` = the batch's last line) commit together or not at
 * all, so a resumed run starts exactly after the last committed batch. A failed `write` has
 * written nothing and may be retried with the same batch. The progress update is guarded by
 * `lease_owner = job.leaseOwner` (see assertLeaseHeld): a run that lost its lease commits nothing.
 */
export interface BatchWriter {
  /**
   * True when the database does the work in another process (PostgreSQL): the next batch is
   * then read while this one is written. False when writing keeps this thread busy (SQLite).
   */
  readonly overlapsReading: boolean;
  /** Set when the writer takes batches with `encoded` rows (Batch.encoded), made by encodeBatches() with this. */
  readonly encoding?: CreatesEncoding | undefined;
  write(batch: Batch, signal: AbortSignal): Promise<BatchOutcome>;
  /** Releases what the writer holds (a pooled connection, prepared statements). */
  close(): Promise<void>;
}

export const ROW_ERROR_REASONS = {
  emailTaken: (id: string) => `a user with this email already exists (${id})`,
  idTaken: 'a user with this id already exists',
  externalIdTaken: (id: string) => `another user has this external id (${id})`,
  duplicateInFile: 'duplicate email: an earlier row of this file has the same email (case-insensitively)',
  idMismatch: (id: string) => `the user with this email has another id (${id})`,
} as const;

/** How many of `wanted` new row errors may still be stored under the per-job cap. */
export function errorsToKeep(kept: number, wanted: number, cap: number): number {
  return Math.max(0, Math.min(wanted, cap - kept));
}

/** The row errors of a batch, rejected rows and database findings together, in line order. */
export function batchErrors(batch: Batch, found: readonly RowError[]): RowError[] {
  const all = batch.rejected.flatMap((row) => row.errors);
  all.push(...found);
  return all.sort((a, b) => a.line - b.line);
}

/**
 * The lease check of a batch: the job's progress update (`… where id = ? and lease_owner = ?`)
 * matched `updatedRows` rows. None means another process took the job over: throwing inside the
 * batch's transaction rolls all of it back, and LeaseLostError is not transient, so the run stops.
 */
export function assertLeaseHeld(updatedRows: number | bigint, job: WriterJob): void {
  if (Number(updatedRows) === 0) throw new LeaseLostError(job.id);
}

/** The row error an import reports for a user the batch did not write. */
export function rowErrorOf(finding: BatchFinding): RowError {
  switch (finding.kind) {
    case 'email-taken':
      return { line: finding.line, field: 'email', reason: ROW_ERROR_REASONS.emailTaken(finding.holderId) };
    case 'id-taken':
      return { line: finding.line, field: 'id', reason: ROW_ERROR_REASONS.idTaken };
    case 'external-id-taken':
      return { line: finding.line, field: 'external_id', reason: ROW_ERROR_REASONS.externalIdTaken(finding.holderId) };
    case 'duplicate':
      return { line: finding.line, field: 'email', reason: ROW_ERROR_REASONS.duplicateInFile };
    case 'id-mismatch':
      return { line: finding.line, field: 'id', reason: ROW_ERROR_REASONS.idMismatch(finding.existingId) };
  }
}

/** The users capability's view of a job: its id marks the users it writes. */
export function userBatchRun(job: WriterJob): UserBatchRun {
  return { id: job.id, mode: job.mode, events: job.events === 'per-user' && !job.dryRun, context: job.context };
}

/** What a batch adds to its job: the row errors to store (already capped) and the counters up to `lastLine`. */
export interface BatchProgress {
  readonly errors: readonly RowError[];
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  readonly skipped: number;
  readonly failed: number;
  readonly lastLine: number;
}

/**
 * The BatchWriter of an import: the batch's users go through the users capability's batch
 * writer (users/batch-store.ts), and the job's own writes (`record`: row errors, progress, the
 * lease check) run alongside in the same transaction. A dry run writes no users, only progress.
 */
export class JobBatchWriter<Tx, Done extends void | Promise<void>> implements BatchWriter {
  readonly #users: UserBatchWriter<Tx, Done>;
  readonly #record: (tx: Tx, progress: BatchProgress) => Done;
  readonly #job: WriterJob;
  #errorsKept: number;

  constructor(users: UserBatchWriter<Tx, Done>, record: (tx: Tx, progress: BatchProgress) => Done, job: WriterJob) {
    this.#users = users;
    this.#record = record;
    this.#job = job;
    this.#errorsKept = job.errorsKept;
  }

  get overlapsReading(): boolean {
    return this.#users.overlapsReading;
  }

  /** A dry run writes no users: nothing to encode them for. */
  get encoding(): CreatesEncoding | undefined {
    return this.#job.dryRun ? undefined : this.#users.encoding;
  }

  async write(batch: Batch, signal: AbortSignal): Promise<BatchOutcome> {
    let outcome: BatchOutcome | undefined;
    let kept = 0;
    const count = rowCount(batch);
    const offered = this.#job.dryRun ? 0 : count;
    const alongside = (tx: Tx, result: UserBatchResult) => {
      const found = result.findings.map(rowErrorOf);
      const errors = batchErrors(batch, found);
      kept = errorsToKeep(this.#errorsKept, errors.length, ROW_ERRORS_KEPT_PER_JOB);
      outcome = {
        read: count + batch.rejected.length,
        created: result.created,
        updated: result.updated,
        skipped: result.skipped + count - offered,
        failed: batch.rejected.length + found.length,
        errors: found,
      };
      return this.#record(tx, { ...outcome, errors: errors.slice(0, kept), lastLine: batch.lastLine });
    };
    const { encoded } = batch;
    if (this.#job.dryRun) await this.#users.write([], alongside, signal);
    else if (encoded !== undefined && this.#users.writeCreates !== undefined) await this.#users.writeCreates(encoded, alongside, signal);
    else await this.#users.write(decodedBatch(batch).rows, alongside, signal);
    this.#errorsKept += kept;
    return outcome!;
  }

  close(): Promise<void> {
    return this.#users.close();
  }
}
