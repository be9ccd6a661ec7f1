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
