import { AppError } from '../kit/errors.js';

/** What made a file unreadable as a whole. */
export type FileProblem =
  /** Not UTF-8: UTF-16/32, Latin-1 bytes, a binary, a compressed or zipped file. */
  | 'encoding'
  /** The CSV header row is missing, or names missing, duplicate or unknown columns. */
  | 'header'
  /** A line or record longer than the cap: no real row comes close, so the file is not what it claims. */
  | 'too-long'
  /** CSV syntax that leaves record boundaries in doubt (a stray quote, an unclosed quote). */
  | 'syntax';

/**
 * The file as a whole cannot be imported. Raised before any row is handed on when the problem
 * is in the file's first bytes or its header; a problem found later (a 10 MB line at row
 * 500,000) stops the import at that point, after the rows before it, because guessing where
 * the next record starts could invent or lose rows.
 */
export class ImportFileError extends AppError {
  readonly code = 'invalid-import-file';
  readonly problem: FileProblem;
  /** The file line the problem was found on, when there is one. */
  readonly line: number | undefined;

  constructor(problem: FileProblem, message: string, options: { line?: number; cause?: unknown } = {}) {
    super(options.line === undefined ? message : `line ${options.line}: ${message}`, { cause: options.cause });
    this.problem = problem;
    this.line = options.line;
  }
}

/** No import job has this id. */
export class ImportNotFoundError extends AppError {
  readonly code = 'import-not-found';
}

/** The instance already has as many import jobs queued as it accepts; retry later. */
export class ImportQueueFullError extends AppError {
  readonly code = 'import-queue-full';
}

/** An uploaded file passed ROSTER_IMPORT_MAX_BYTES. */
export class ImportTooLargeError extends AppError {
  readonly code = 'body-too-large';
}

/**
 * Another process holds the job's lease: it is running the job now (a server's runner, or a
 * `roster import --resume` elsewhere), so this run did not start and wrote nothing.
 */
export class ImportLeaseHeldError extends AppError {
  readonly code = 'import-job-leased';
  readonly jobId: string;
  readonly owner: string;
  readonly until: Date | undefined;

  constructor(jobId: string, owner: string, until: Date | undefined, options: { cause?: unknown } = {}) {
    super(`import job ${jobId} is being run by ${owner}${until === undefined ? '' : ` until ${until.toISOString()}`}`, options);
    this.jobId = jobId;
    this.owner = owner;
    this.until = until;
  }
}

/**
 * This run's lease on the job was taken over (it expired while the process stalled, or its
 * holder was judged dead): the batch in progress rolled back and the run stopped without
 * recording an end, because the job now belongs to the new holder. Not an AppError: no
 * request ever waits on a run, so it never meets HTTP.
 */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  readonly jobId: string;

  constructor(jobId: string, options: { cause?: unknown } = {}) {
    super(`import job ${jobId}: this run no longer holds the job's lease (another process took it over); it stopped`, options);
    this.jobId = jobId;
  }
}

/**
 * An upload stalled (no bytes for ROSTER_IMPORT_UPLOAD_IDLE_MS) or took longer than
 * ROSTER_IMPORT_UPLOAD_TIMEOUT_MS; the partial file was removed and no job was created.
 */
export class ImportUploadTimeoutError extends AppError {
  readonly code = 'upload-timeout';
}

/**
 * The reason a runner aborts its runs at shutdown: unlike a cancel, the job goes back to
 * `pending` (lease released) so the next instance to start resumes it.
 */
export class ImportInterruptedError extends Error {
  override readonly name = 'ImportInterruptedError';
}

/**
 * The import's front half (reading, parsing, checking the file in a worker thread) stopped
 * without an answer: the worker crashed, ran out of memory or exited. The import fails with it
 * (the batches committed before it stay); `cause` is the worker's error or exit code.
 */
export class ImportWorkerError extends Error {
  override readonly name = 'ImportWorkerError';
}
