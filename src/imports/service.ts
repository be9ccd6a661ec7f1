import { pipeline } from 'node:stream/promises';
import type { NewEvent } from '../events/model.js';
import type { CreatesEncoding } from '../users/sqlite-batch-rows.js';
import { isUuid } from '../kit/uuid.js';
import type { Batch, BatchOptions } from './read/batch.js';
import { LeaseLostError } from './errors.js';
import type { DedupeOptions } from './read/dedupe.js';
import { importBatches, type FrontHalfOptions } from './read/front-half.js';
import type { Stage } from './read/rows.js';
import type { ImportMetrics } from './metrics.js';
import { isFinished, type ImportJob, type ImportSpec, type JobStatus } from './jobs/job.js';
import { JobLeases, type JobLeaseOptions } from './jobs/job-leases.js';
import type { ImportJobStore } from './jobs/job-store.js';
import { ImportCounters } from './jobs/report.js';
import type { RetryOptions } from './write/retry.js';
import type { RowError } from './read/rows.js';
import { BatchSink, decideRunEnd, writerJobFor, type Pumped, type RunEnd } from './run.js';
import { TransactionSizer, type TransactionBudget } from './write/transaction-size.js';
import type { BatchOutcome, BatchWriter, WriterJob } from './write/writer.js';

export interface ImportServiceOptions {
  readonly jobs: ImportJobStore;
  readonly writerFor: (job: WriterJob) => BatchWriter;
  /** Transient database errors (busy, serialization failure, dropped connection): the batch is retried. */
  readonly isTransient: (error: unknown) => boolean;
  readonly newId: () => string;
  readonly now?: () => Date;
  /** Transaction size; see DEFAULT_IMPORT_BATCH for how it was chosen. */
  readonly batch?: BatchOptions;
  /** Memory of the emails seen in a file; the defaults suit any file size (see dedupe.ts). */
  readonly dedupe?: DedupeOptions;
  /** When set, rows per transaction follow this time budget instead of `batch.maxRows` (see SQLITE_IMPORT_TRANSACTION). */
  readonly transaction?: TransactionBudget;
  readonly retry?: RetryOptions;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly metrics?: ImportMetrics;
  /** Lease owner, length, dead-holder check and renewal errors (see JobLeaseOptions). */
  readonly leases?: Omit<JobLeaseOptions, 'now'>;
  /**
   * The front half (bytes → batches): importBatches() on this thread by default. With
   * ROSTER_IMPORT_SQLITE_WORKER the composition root gives importFrontHalf (compose/imports.ts):
   * a worker thread (importBatchesInWorker()) when the writer takes its rows encoded (`encode`,
   * from BatchWriter.encoding: SQLite create runs).
   */
  readonly frontHalf?: FrontHalf;
}

/** The front half of a run: its options, and how its writer takes rows when it takes them encoded. */
export type FrontHalf = (options: FrontHalfOptions, encode: CreatesEncoding | undefined) => Stage<Uint8Array, Batch>;

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
  /**
   * Run only a job that is still pending or running (the runner: a queued job may have been
   * cancelled or finished elsewhere meanwhile). Such a job is returned as it is, not run.
   */
  readonly unfinishedOnly?: boolean;
}

export interface RunResult {
  readonly job: ImportJob;
  /** Why the run did not succeed, when it did not. */
  readonly error?: unknown;
}

/**
 * Import use cases: create a job, run it over a byte stream (resuming where it left off), read
 * its row errors. A run holds the job's lease (see run()), so one job never runs twice at once.
 */
export class ImportService {
  readonly #options: ImportServiceOptions;
  readonly #now: () => Date;
  readonly #leases: JobLeases;

  constructor(options: ImportServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#leases = new JobLeases(options.jobs, { ...options.leases, now: this.#now });
  }

  /** This service's lease owner. */
  get leaseOwner(): string {
    return this.#leases.owner;
  }

  get leaseMs(): number {
    return this.#leases.leaseMs;
  }

  create(spec: ImportSpec, signal?: AbortSignal): Promise<ImportJob> {
    return this.#options.jobs.create(this.#options.newId(), spec, this.#now(), signal);
  }

  /** Undefined for an id that is not a UUID (`--resume` takes any text): no job has one, so the database is not asked. */
  get(id: string, signal?: AbortSignal): Promise<ImportJob | undefined> {
    return isUuid(id) ? this.#options.jobs.get(id, signal) : Promise.resolve(undefined);
  }

  /** Uploaded jobs left pending or running whose lease is free: what a restart resumes. */
  async abandonedUploads(): Promise<ImportJob[]> {
    const now = this.#now();
    const jobs = await this.#options.jobs.listUnfinishedUploads();
    return jobs.filter((job) => !this.#leases.isActive(job.id) && this.#leases.isFree(job, now));
  }

  /**
   * Records a job that is not running as cancelled (taking its lease for the write). `signal`
   * can stop it until the lease is taken, not after: a lease taken is always given back.
   * @throws ImportLeaseHeldError when a live process is running it
   */
  async cancelPending(id: string, signal?: AbortSignal): Promise<ImportJob> {
    const claimed = await this.#leases.claim(id, true, signal);
    if (isFinished(claimed.status) && claimed.leaseOwner !== this.#leases.owner) return claimed;
    try {
      return await this.#options.jobs.finish(id, this.#leases.owner, 'cancelled', 'cancelled before it started', this.#now());
    } finally {
      this.#leases.settle(id);
    }
  }

  /** Row errors in line order; from the line after `afterLine` when given (a page of a screen). */
  rowErrors(id: string, signal?: AbortSignal, afterLine?: number): AsyncIterable<RowError> {
    return this.#options.jobs.rowErrors(id, signal, afterLine);
  }

  /** Up to `limit` jobs, newest first; `before` (a job id) continues a previous page. */
  list(page: { readonly limit: number; readonly before?: string | undefined }, signal?: AbortSignal): Promise<ImportJob[]> {
    if (page.before !== undefined && !isUuid(page.before)) return Promise.resolve([]);
    return this.#options.jobs.listRecent(page.limit, page.before, signal);
  }

  /**
   * Runs (or resumes) `job` over the file's bytes: read → parse → validate → dedupe → batches
   * → one transaction per batch. Lines up to the job's `committedLine` were written by an
   * earlier run and are skipped (they still pass through dedupe, so a repeat of one of them is
   * reported as before). Ends with the job's status recorded: succeeded, failed (a file error
   * or a permanent database error, in `error`), cancelled (the signal aborted; the batch in
   * progress rolled back), or pending again when the signal's reason is an
   * ImportInterruptedError (a shutdown: the job is to be resumed, not given up).
   *
   * The run first claims the job's lease (one conditional update) and renews it every third of
   * the lease while it runs; every batch commit re-checks it in its own transaction. If the
   * lease is lost (another process took the job over after this one stalled past the expiry),
   * the open batch rolls back and the run throws LeaseLostError without recording an end: the
   * job is the new holder's.
   *
   * @throws ImportLeaseHeldError when a live process holds the lease (nothing was read or written)
   * @throws LeaseLostError as above
   */
  async run(job: ImportJob, source: AsyncIterable<Uint8Array>, options: RunOptions): Promise<RunResult> {
    let claimed: ImportJob;
    try {
      claimed = await this.#leases.claim(job.id, options.unfinishedOnly ?? false);
    } catch (error) {
      discard(source);
      throw error;
    }
    if (isFinished(claimed.status) && claimed.leaseOwner !== this.#leases.owner) {
      discard(source);
      return { job: claimed };
    }
    const heartbeat = this.#leases.heartbeat(job.id);
    try {
      return await this.#runClaimed(claimed, source, options, heartbeat.lost);
    } finally {
      heartbeat.stop();
      this.#leases.settle(job.id);
    }
  }

  async #runClaimed(job: ImportJob, source: AsyncIterable<Uint8Array>, options: RunOptions, lost: AbortSignal): Promise<RunResult> {
    const started = await this.#start(job, source);
    const counters = options.counters ?? new ImportCounters();
    const sizer = this.#options.transaction === undefined ? undefined : new TransactionSizer(this.#options.transaction);
    const writer = this.#options.writerFor(writerJobFor(started, this.#leases.owner));
    const sink = new BatchSink({
      writer,
      // The pipeline and the writer stop on either a cancel or a lost lease.
      signal: AbortSignal.any([options.signal, lost]),
      counters,
      isTransient: this.#options.isTransient,
      retry: this.#options.retry,
      onRetry: this.#options.onRetry,
      onCommitted: options.onCommitted,
      metrics: this.#options.metrics,
      sizer,
    });
    const pumped = await this.#pump(started, source, sink, counters, sizer, writer.encoding);
    const end = decideRunEnd({
      jobId: job.id,
      pumped,
      cancel: options.signal,
      lost,
      summary: started.events === 'summary',
      written: sink.written,
    });
    return this.#record(started, end, sink.written);
  }

  /** Marks the claimed job running; if that fails, the source is closed and the lease given back (unless lost). */
  async #start(job: ImportJob, source: AsyncIterable<Uint8Array>): Promise<ImportJob> {
    const { jobs } = this.#options;
    try {
      return await jobs.markRunning(job.id, this.#leases.owner, this.#now());
    } catch (error) {
      discard(source);
      if (!(error instanceof LeaseLostError)) await jobs.release(job.id, this.#leases.owner).catch(() => undefined);
      throw error;
    }
  }

  /** Reads the file into batches and hands them to the sink, until the end, a failure, a cancel or a lost lease. */
  async #pump(
    job: ImportJob,
    source: AsyncIterable<Uint8Array>,
    sink: BatchSink,
    counters: ImportCounters,
    sizer: TransactionSizer | undefined,
    encode: CreatesEncoding | undefined,
  ): Promise<Pumped> {
    const baseBatch = this.#options.batch ?? DEFAULT_IMPORT_BATCH;
    const batch: BatchOptions = sizer === undefined ? baseBatch : { ...baseBatch, maxRows: () => sizer.rows };
    const metrics = this.#options.metrics;
    const frontHalf: FrontHalf = this.#options.frontHalf ?? importBatches;
    metrics?.jobsRunning.inc();
    try {
      await pipeline(
        source,
        frontHalf(
          {
            format: job.format,
            ...job.options,
            counters,
            batch,
            ...(this.#options.dedupe === undefined ? {} : { dedupe: this.#options.dedupe }),
          },
          encode,
        ),
        (batches: AsyncIterable<Batch>) => sink.consume(batches, job.committedLine),
        // Reading stops on a cancel, a lost lease, or a failed write while reading ahead.
        { signal: AbortSignal.any([sink.signal, sink.failed]) },
      );
      return { failed: false };
    } catch (caught) {
      return { failed: true, error: sink.failure ?? caught };
    } finally {
      await sink.close();
      metrics?.jobsRunning.dec();
    }
  }

  /** Records the run's end as decided: finished, or suspended (back to pending); a lost lease records nothing. */
  async #record(job: ImportJob, end: RunEnd, written: { created: number; updated: number }): Promise<RunResult> {
    if (end.kind === 'lease-lost') throw end.error;
    const { jobs } = this.#options;
    const event = end.summary === undefined ? undefined : this.#summary(job, end.summary, written);
    if (end.kind === 'suspend') return { job: await jobs.suspend(job.id, this.#leases.owner, this.#now(), event), error: end.error };
    const finished = await jobs.finish(job.id, this.#leases.owner, end.status, end.message, this.#now(), event);
    return end.status === 'succeeded' ? { job: finished } : { job: finished, error: end.error };
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

/** Closes a source that will not be read (a file stream would otherwise hold its descriptor). */
function discard(source: AsyncIterable<Uint8Array>): void {
  const destroy = (source as { destroy?: () => void }).destroy;
  if (typeof destroy === 'function') destroy.call(source);
}
