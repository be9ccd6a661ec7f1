import type { NewUser, UserId } from '../../users/model.js';

/**
 * The items that flow through the import's front half. Every stage is an async generator
 * that `stream/promises` `pipeline()` can run (it passes `{ signal }`), or that a caller can
 * compose by hand; rows keep their file order, and a rejected row travels with the rows
 * around it so a batch commits its rows and its row errors together.
 *
 * Between the parser and the batcher, rows travel in arrays, one per source chunk (16 KiB of
 * file text plus at most one long line, so bounded): an await and a yield per row per stage
 * cost more than the stage's own work (measured over 1M CSV rows through four stages: 210k
 * rows/s one row at a time, 285k in arrays). 16 KiB rather than 64: fewer rows alive at each
 * young-generation collection, so fewer promoted to the old generation (peak heap 38 MB
 * instead of 100 MB in the same run).
 */
export type Stage<In, Out> = (source: AsyncIterable<In>, options?: { signal?: AbortSignal }) => AsyncGenerator<Out, void, undefined>;

/** The user fields an import reads: CSV columns or NDJSON keys, after `--map`. */
export type ImportField = 'id' | 'email' | 'name' | 'given_name' | 'family_name' | 'external_id' | 'active' | 'attributes' | 'profile';
/** In the order the export writes them. */
export const IMPORT_FIELDS: readonly ImportField[] = [
  'id',
  'email',
  'name',
  'given_name',
  'family_name',
  'external_id',
  'active',
  'attributes',
  'profile',
];
export const REQUIRED_FIELDS: readonly ImportField[] = ['email', 'name'];

export function isImportField(name: string): name is ImportField {
  return (IMPORT_FIELDS as readonly string[]).includes(name);
}

/** One entry of the error report. `line` is the file line where the row starts (1-based). */
export interface RowError {
  readonly line: number;
  /** The field (or, for an unknown one, the column or key) at fault; absent when the whole row is. */
  readonly field?: string;
  readonly reason: string;
}

/** A row that will not be written, with every reason found for it. */
export interface RejectedRow {
  readonly kind: 'rejected';
  readonly line: number;
  readonly errors: readonly RowError[];
}

/** A record read from the file, its values not yet checked against the user rules. */
export interface ParsedRow {
  readonly kind: 'parsed';
  readonly line: number;
  /** Size of the record in the file: what the batch stage bounds. */
  readonly bytes: number;
  readonly fields: Readonly<Partial<Record<ImportField, unknown>>>;
  /** Field problems the parser already found (a cell that is not JSON, a NUL, an unknown key). */
  readonly errors: readonly RowError[];
}

/** What an import may set: the fields of a create, and optionally the user's id. */
export type ImportedUser = NewUser & { readonly id?: UserId };

/** A row that passed every rule the API applies to a create. */
export interface ValidRow {
  readonly kind: 'valid';
  readonly line: number;
  readonly bytes: number;
  readonly user: ImportedUser;
  /**
   * Set by the dedupe stage when an earlier row of the file may have had the same email but it
   * could not be proven in memory: the writer must let the database decide (see dedupe.ts).
   */
  readonly maybeDuplicate: boolean;
  /**
   * Set by the dedupe stage on a first occurrence it remembers only in its filter: a later
   * repeat will come as `maybeDuplicate`, so the writer marks the user with the job even when
   * this row leaves it unchanged, or that repeat would be taken for the first occurrence.
   */
  readonly markIfUnchanged?: boolean;
}

/** Shared by the rows with nothing to report, so they allocate nothing for it. */
export const NO_ERRORS: readonly RowError[] = Object.freeze([]);

export type ParseItem = ParsedRow | RejectedRow;
export type CheckedItem = ValidRow | RejectedRow;

export function rejected(line: number, errors: readonly Omit<RowError, 'line'>[]): RejectedRow {
  return { kind: 'rejected', line, errors: errors.map((e) => ({ line, ...e })) };
}
