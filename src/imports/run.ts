import { setImmediate } from 'node:timers/promises';
import { decodedBatch, rowCount, type Batch } from './read/batch.js';
import { ImportFileError, ImportInterruptedError, LeaseLostError } from './errors.js';
import type { ImportJob, JobStatus } from './jobs/job.js';
import type { ImportMetrics } from './metrics.js';
import type { ImportCounters } from './jobs/report.js';
import { retrying, type RetryOptions } from './write/retry.js';
import type { RowError } from './read/rows.js';
import type { TransactionSizer } from './write/transaction-size.js';
import { batchErrors, type BatchOutcome, type BatchWriter, type WriterJob } from './write/writer.js';

// The parts of one claimed run of an import job (ImportService.run): what the writer is told
// about the job, the sink that writes the batches, and how the run ends.

/** What the writer needs to know about a job that has started running under `leaseOwner`. */
export function writerJobFor(job: ImportJob, leaseOwner: string): WriterJob {
  return {
    id: job.id,
    mode: job.mode,
    events: job.events,
    dryRun: job.dryRun,
    errorsKept: job.errorsKept,
    context: { actor: job.actor, requestId: undefined },
    leaseOwner,
  };
}

/** The part of `batch` after `line`, or undefined when an earlier run committed all of it. */
export function unwritten(batch: Batch, line: number): Batch | undefined {
  if (batch.lastLine <= line) return undefined;
  if (batch.firstLine > line) return batch;
  const whole = decodedBatch(batch);
  return {
    firstLine: line + 1,
    lastLine: whole.lastLine,
    rows: whole.rows.filter((row) => row.line > line),
    rejected: whole.rejected.filter((row) => row.line > line),
  };
}

export interface BatchSinkOptions {
  readonly writer: BatchWriter;
  /** Stops the writing: a cancel or a lost lease. */
  readonly signal: AbortSignal;
  readonly counters: ImportCounters;
  readonly isTransient: (error: unknown) => boolean;
  readonly retry?: RetryOptions | undefined;
  readonly onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
  readonly onCommitted?: ((errors: readonly RowError[], outcome: BatchOutcome) => Promise<void> | void) | undefined;
  readonly metrics?: ImportMetrics | undefined;
  /** Told how long each batch took, when rows per batch follow a time budget. */
  readonly sizer?: TransactionSizer | undefined;
}

/**
 * The write side of a run: each batch through the writer as one transaction, retried while
 * its errors are transient, then timed, counted and reported. A writer whose work runs off this
 * thread gets the next batch read while it writes the last (`failed` then stops the reading as
 * soon as such a write fails).
 */
export class BatchSink {
  readonly #options: BatchSinkOptions;
  readonly #failed = new AbortController();
  #failure: unknown;
  #inFlight: Promise<unknown> | undefined;
  #written = { created: 0, updated: 0 };

  constructor(options: BatchSinkOptions) {
    this.#options = options;
  }

  /** The writing's signal: a cancel or a lost lease. */
  get signal(): AbortSignal {
    return this.#options.signal;
  }

  /** Aborts when a write the reading went ahead of fails. */
  get failed(): AbortSignal {
    return this.#failed.signal;
  }

  /** That write's error: the run's error, rather than the abort it caused. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Users created and updated by the batches committed so far. */
  get written(): { readonly created: number; readonly updated: number } {
    return this.#written;
  }

  /** Writes `batches` in order, skipping what an earlier run committed (lines up to `resumeAfter`). */
  async consume(batches: AsyncIterable<Batch>, resumeAfter: number): Promise<void> {
    let writing: Promise<void> | undefined;
    for await (const batch of batches) {
      const remaining = unwritten(batch, resumeAfter);
      if (remaining === undefined) continue;
      await writing;
      writing = this.write(remaining);
      if (this.#options.writer.overlapsReading) writing.catch((failure: unknown) => this.#fail(failure));
      else {
        await writing;
        // A synchronous writer (SQLite) holds the thread for a whole transaction, and when the
        // next batch is already here (the worker-thread front half builds ahead) its promises
        // would chain into the next transaction without this thread ever returning to its event
        // loop: no file read completes and no chunk reaches the worker (which starves, then this
        // thread waits for it), and in the server no request is served until the batches ready
        // run out. So the loop turns through its poll phase (I/O) between two transactions. Two
        // setImmediates: a transaction begun in the poll phase (woken by the worker's message)
        // reaches the first one's check phase in the same iteration, before any more I/O; the
        // second resolves after the next poll phase (bench/RESULTS.md, issue 15, twentieth pass).
        await setImmediate();
        await setImmediate();
      }
    }
    await writing;
  }

  /** One batch, committed (retried while its errors are transient), counted and reported. */
  async write(batch: Batch): Promise<void> {
    const { metrics, counters } = this.#options;
    const startedAt = performance.now();
    const work = retrying(
      () => this.#timed(batch),
      this.#options.isTransient,
      this.#options.signal,
      this.#options.retry,
      (error, attempt, delayMs) => {
        metrics?.batchRetries.inc();
        this.#options.onRetry?.(error, attempt, delayMs);
      },
    );
    this.#inFlight = work;
    const outcome = await work;
    this.#inFlight = undefined;
    if (metrics !== undefined) {
      metrics.batchDuration.observe((performance.now() - startedAt) / 1000);
      for (const key of ['created', 'updated', 'skipped', 'failed'] as const)
        if (outcome[key] > 0) metrics.rows.inc({ outcome: key }, outcome[key]);
    }
    counters.created += outcome.created;
    counters.updated += outcome.updated;
    counters.skipped += outcome.skipped;
    counters.failed += outcome.errors.length;
    this.#written = { created: this.#written.created + outcome.created, updated: this.#written.updated + outcome.updated };
    await this.#options.onCommitted?.(batchErrors(batch, outcome.errors), outcome);
  }

  /**
   * Waits for the batch in flight to settle (commit or roll back), then closes the writer. A
   * cancelled pipeline does not wait for the writer, and the job's end must not be recorded
   * before its last commit.
   */
  async close(): Promise<void> {
    await this.#inFlight?.catch(() => undefined);
    await this.#options.writer.close();
  }

  async #timed(batch: Batch): Promise<BatchOutcome> {
    const startedAt = performance.now();
    const outcome = await this.#options.writer.write(batch, this.#options.signal);
    this.#options.sizer?.observe(rowCount(batch), performance.now() - startedAt);
    return outcome;
  }

  #fail(failure: unknown): void {
    this.#failure = failure;
    this.#failed.abort(failure);
  }
}

/** How the reading and writing of a run went. */
export type Pumped = { readonly failed: false } | { readonly failed: true; readonly error: unknown };

export interface RunEndInput {
  readonly jobId: string;
  readonly pumped: Pumped;
  /** The run's own signal (a cancel; its reason an ImportInterruptedError at shutdown). */
  readonly cancel: AbortSignal;
  /** Aborts when a renewal found the lease taken. */
  readonly lost: AbortSignal;
  /** Whether the job writes one `users.imported` event at its end. */
  readonly summary: boolean;
  readonly written: { readonly created: number; readonly updated: number };
}

/** What to record at the end of a run; `summary`, when set, is the status its summary event reports. */
export type RunEnd =
  /** The lease was lost (a renewal or a batch found it taken): record nothing, the job is the new holder's. */
  | { readonly kind: 'lease-lost'; readonly error: LeaseLostError }
  /** Interrupted by a shutdown: the job goes back to pending, to be resumed. */
  | { readonly kind: 'suspend'; readonly error: unknown; readonly summary: JobStatus | undefined }
  /** Succeeded, failed (`message` says why) or cancelled. */
  | {
      readonly kind: 'finish';
      readonly status: JobStatus;
      readonly message: string | undefined;
      readonly error: unknown;
      readonly summary: JobStatus | undefined;
    };

export function decideRunEnd({ jobId, pumped, cancel, lost, summary, written }: RunEndInput): RunEnd {
  const error = pumped.failed ? pumped.error : undefined;
  if (lost.aborted || error instanceof LeaseLostError) {
    return { kind: 'lease-lost', error: error instanceof LeaseLostError ? error : new LeaseLostError(jobId, { cause: lost.reason }) };
  }
  const status: JobStatus = !pumped.failed ? 'succeeded' : cancel.aborted ? 'cancelled' : 'failed';
  const interrupted = status === 'cancelled' && cancel.reason instanceof ImportInterruptedError;
  const summarised = summary && written.created + written.updated > 0;
  if (interrupted) return { kind: 'suspend', error, summary: summarised ? 'pending' : undefined };
  return { kind: 'finish', status, message: describeFailure(status, error), error, summary: summarised ? status : undefined };
}

function describeFailure(status: JobStatus, error: unknown): string | undefined {
  if (status === 'succeeded') return undefined;
  if (status === 'cancelled') return 'cancelled';
  if (error instanceof ImportFileError) return error.message;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause instanceof Error ? `${message} (cause: ${cause.message})` : message;
}
