import { pipeline } from 'node:stream/promises';
import type { NewEvent } from '../events/model.js';
import type { Batch, BatchOptions } from './batch.js';
import { ImportFileError } from './errors.js';
import { importBatches } from './front-half.js';
import type { ImportMetrics } from './metrics.js';
import type { ImportJob, ImportSpec, JobStatus } from './job.js';
import { ImportCounters } from './report.js';
import { retrying, type RetryOptions } from './retry.js';
import type { RowError } from './rows.js';
import { TransactionSizer, type TransactionBudget } from './transaction-size.js';
import { batchErrors, type BatchOutcome, type BatchWriter, type WriterJob } from './writer.js';

/** The job store port the service owns (SqlImportJobStore is its adapter). */
export interface ImportJobStore {
  create(id: string, spec: ImportSpec, now: Date): Promise<ImportJob>;
  get(id: string): Promise<ImportJob | undefined>;
  listByStatus(statuses: readonly JobStatus[]): Promise<ImportJob[]>;
  markRunning(id: string, now: Date): Promise<ImportJob>;
  finish(id: string, status: JobStatus, error: string | undefined, now: Date, event?: NewEvent): Promise<ImportJob>;
  rowErrors(id: string, signal?: AbortSignal): AsyncIterable<RowError>;
}

export interface ImportServiceOptions {
  readonly jobs: ImportJobStore;
  readonly writerFor: (job: WriterJob) => BatchWriter;
  /** Transient database errors (busy, serialization failure, dropped connection): the batch is retried. */
  readonly isTransient: (error: unknown) => boolean;
  readonly newId: () => string;
  readonly now?: () => Date;
  /** Transaction size; see DEFAULT_IMPORT_BATCH for how it was chosen. */
  readonly batch?: BatchOptions;
  /** When set, rows per transaction follow this time budget instead of `batch.maxRows` (see SQLITE_IMPORT_TRANSACTION). */
  readonly transaction?: TransactionBudget;
  readonly retry?: RetryOptions;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly metrics?: ImportMetrics;
}

/**
 * Rows per transaction when the caller does not choose (PostgreSQL; see importBatchFor() for
 * SQLite). A PostgreSQL batch pays a fixed cost (staging table, a handful of statements) and
 * locks only the users it matches, so larger batches are cheaper and stall nobody; the byte
 * cap keeps a batch of large rows within the memory budget.
 */
export const DEFAULT_IMPORT_BATCH: BatchOptions = { maxRows: 10_000, maxBytes: 4 * 1024 * 1024 };

/**
 * SQLite: a batch holds the database's only write lock while it runs, so its length is weighed
 * against API write latency, and set in time rather than rows (a row costs more as the indexes
 * outgrow the page cache). Measured by bench/import.ts (1M rows, 2 CPUs): fixed 2,000-row
 * batches ran at ~32k rows/s, because each commit writes every index page the batch touched
 * to the WAL, and 2,000 random emails touch ~2,000 pages per index; 20,000-row batches of
 * ~250 ms write each page once for ten times the rows. 250 ms per transaction keeps the worst
 * concurrent API write well under the 1 s bar. At most 20,000 rows: a batch's rows live until
 * it commits, so they reach V8's old generation; a 50,000-row ceiling was no faster and peaked
 * at 292 MB RSS instead of 254 MB (1M rows). The byte cap bounds a batch of large rows.
 */
export const SQLITE_IMPORT_BATCH: BatchOptions = { maxRows: 20_000, maxBytes: 4 * 1024 * 1024 };
export const SQLITE_IMPORT_TRANSACTION: TransactionBudget = { targetMs: 250, initialRows: 2_000, minRows: 500, maxRows: 20_000 };

export interface RunOptions {
  readonly signal: AbortSignal;
  /** Live counters for a progress reporter (bytes, read, failed from the reader; the rest from the writer). */
  readonly counters?: ImportCounters;
  /** Called after each committed batch with its row errors (e.g. to stream them to `--errors FILE`). */
  readonly onCommitted?: (errors: readonly RowError[], outcome: BatchOutcome) => Promise<void> | void;
}

export interface RunResult {
  readonly job: ImportJob;
  /** Why the run did not succeed, when it did not. */
  readonly error?: unknown;
}

/** Import use cases: create a job, run it over a byte stream (resuming where it left off), read its row errors. */
export class ImportService {
  readonly #options: ImportServiceOptions;
  readonly #now: () => Date;

  constructor(options: ImportServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  create(spec: ImportSpec): Promise<ImportJob> {
    return this.#options.jobs.create(this.#options.newId(), spec, this.#now());
  }

  get(id: string): Promise<ImportJob | undefined> {
    return this.#options.jobs.get(id);
  }

  /** Records a job that never started as cancelled. */
  async cancelPending(id: string): Promise<ImportJob> {
    return this.#options.jobs.finish(id, 'cancelled', 'cancelled before it started', this.#now());
  }

  rowErrors(id: string, signal?: AbortSignal): AsyncIterable<RowError> {
    return this.#options.jobs.rowErrors(id, signal);
  }

  /**
   * Runs (or resumes) `job` over the file's bytes: read → parse → validate → dedupe → batches
   * → one transaction per batch. Lines up to the job's `committedLine` were written by an
   * earlier run and are skipped (they still pass through dedupe, so a repeat of one of them is
   * reported as before). Ends with the job's status recorded: succeeded, failed (a file error
   * or a permanent database error, in `error`) or cancelled (the signal aborted; the batch in
   * progress rolled back).
   */
  async run(job: ImportJob, source: AsyncIterable<Uint8Array>, options: RunOptions): Promise<RunResult> {
    const { jobs } = this.#options;
    const { signal } = options;
    const counters = options.counters ?? new ImportCounters();
    const started = await jobs.markRunning(job.id, this.#now());
    const writerJob: WriterJob = {
      id: started.id,
      mode: started.mode,
      events: started.events,
      dryRun: started.dryRun,
      errorsKept: started.errorsKept,
      context: { actor: started.actor, requestId: undefined },
    };
    const writer = this.#options.writerFor(writerJob);
    const resumeAfter = started.committedLine;
    let written = { created: 0, updated: 0 };
    let inFlight: Promise<unknown> | undefined;
    const metrics = this.#options.metrics;
    const sizer = this.#options.transaction === undefined ? undefined : new TransactionSizer(this.#options.transaction);
    const batchOptions: BatchOptions = { ...(this.#options.batch ?? DEFAULT_IMPORT_BATCH) };
    if (sizer !== undefined) Object.assign(batchOptions, { maxRows: () => sizer.rows });
    const timed = async (batch: Batch): Promise<BatchOutcome> => {
      const startedAt = performance.now();
      const outcome = await writer.write(batch, signal);
      sizer?.observe(batch.rows.length, performance.now() - startedAt);
      return outcome;
    };
    const write = async (batch: Batch): Promise<void> => {
      const startedAt = performance.now();
      const work = retrying(
        () => timed(batch),
        this.#options.isTransient,
        signal,
        this.#options.retry,
        (error, attempt, delayMs) => {
          metrics?.batchRetries.inc();
          this.#options.onRetry?.(error, attempt, delayMs);
        },
      );
      inFlight = work;
      const outcome = await work;
      inFlight = undefined;
      if (metrics !== undefined) {
        metrics.batchDuration.observe((performance.now() - startedAt) / 1000);
        for (const key of ['created', 'updated', 'skipped', 'failed'] as const)
          if (outcome[key] > 0) metrics.rows.inc({ outcome: key }, outcome[key]);
      }
      counters.created += outcome.created;
      counters.updated += outcome.updated;
      counters.skipped += outcome.skipped;
      counters.failed += outcome.errors.length;
      written = { created: written.created + outcome.created, updated: written.updated + outcome.updated };
      await options.onCommitted?.(batchErrors(batch, outcome.errors), outcome);
    };
    let status: JobStatus = 'succeeded';
    let error: unknown;
    const reading = new AbortController();
    let writeFailure: unknown;
    const stopReading = () => reading.abort(signal.reason);
    signal.addEventListener('abort', stopReading, { once: true });
    metrics?.jobsRunning.inc();
    try {
      await pipeline(
        source,
        importBatches({ format: started.format, ...started.options, counters, batch: batchOptions }),
        async (batches: AsyncIterable<Batch>) => {
          let writing: Promise<void> | undefined;
          for await (const batch of batches) {
            const remaining = unwritten(batch, resumeAfter);
            if (remaining === undefined) continue;
            await writing;
            writing = write(remaining);
            // A writer whose database works in another process gets the next batch read and
            // checked meanwhile (both CPUs busy); a failed write stops the reading at once.
            if (writer.overlapsReading)
              writing.catch((failure: unknown) => {
                writeFailure = failure;
                reading.abort(failure);
              });
            else await writing;
          }
          await writing;
        },
        { signal: reading.signal },
      );
    } catch (caught) {
      error = writeFailure ?? caught;
      status = signal.aborted ? 'cancelled' : 'failed';
    } finally {
      // A cancelled pipeline does not wait for the writer: the open batch must settle (commit or
      // roll back) before the job's end is recorded, or the record could precede its last commit.
      await inFlight?.catch(() => undefined);
      await writer.close();
      signal.removeEventListener('abort', stopReading);
      metrics?.jobsRunning.dec();
    }
    const event =
      started.events === 'summary' && written.created + written.updated > 0 ? this.#summary(started, status, written) : undefined;
    const finished = await jobs.finish(job.id, status, describeFailure(status, error), this.#now(), event);
    return status === 'succeeded' ? { job: finished } : { job: finished, error };
  }

  #summary(job: ImportJob, status: JobStatus, written: { created: number; updated: number }): NewEvent {
    return {
      id: this.#options.newId(),
      type: 'users.imported',
      occurredAt: this.#now(),
      actor: job.actor ?? null,
      requestId: null,
      subjectId: job.id,
      data: { import_id: job.id, status, mode: job.mode, created: written.created, updated: written.updated },
    };
  }
}

/** The part of `batch` after `line`, or undefined when an earlier run committed all of it. */
export function unwritten(batch: Batch, line: number): Batch | undefined {
  if (batch.lastLine <= line) return undefined;
  if (batch.firstLine > line) return batch;
  return {
    firstLine: line + 1,
    lastLine: batch.lastLine,
    rows: batch.rows.filter((row) => row.line > line),
    rejected: batch.rejected.filter((row) => row.line > line),
  };
}

function describeFailure(status: JobStatus, error: unknown): string | undefined {
  if (status === 'succeeded') return undefined;
  if (status === 'cancelled') return 'cancelled';
  if (error instanceof ImportFileError) return error.message;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause instanceof Error ? `${message} (cause: ${cause.message})` : message;
}
