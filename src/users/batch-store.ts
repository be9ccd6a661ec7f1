import type { EventContext } from '../events/model.js';
import type { NewUser, UserId } from './model.js';
import type { CreatesEncoding, EncodedCreates } from './sqlite-batch-rows.js';

/**
 * The batch port of the users capability: many users written in one transaction at a database's
 * bulk speed, with the events they make, by the same rules as the API (users/changes.ts decides
 * what changed, users/events.ts what the events say, users/sql-row.ts what the row holds).
 * Adapters: SqliteUserBatchWriter (prepared statements stepped synchronously) and
 * PostgresUserBatchWriter (COPY and set-based SQL). The import is its caller; its job
 * bookkeeping (row errors, progress, the lease) is its own, written through `alongside` in the
 * batch's transaction.
 */

/** A user to write, already checked by the API's rules (parseNewUser). */
export interface BatchUser {
  /** Where the user came from (an import's file line): findings name it. */
  readonly line: number;
  readonly user: NewUser & { readonly id?: UserId };
  /**
   * An earlier user of the same run may have had this email (the caller could not prove it):
   * if the user holding it was last written by this run, it is a `duplicate`, not an update.
   */
  readonly maybeDuplicate: boolean;
  /** Mark the user as written by this run even when nothing changed, so a later `maybeDuplicate` repeat is seen. */
  readonly markIfUnchanged?: boolean;
}

/** A user the batch did not write, and why. */
export type BatchFinding =
  | { readonly line: number; readonly kind: 'email-taken'; readonly holderId: string }
  | { readonly line: number; readonly kind: 'external-id-taken'; readonly holderId: string }
  | { readonly line: number; readonly kind: 'id-taken' }
  | { readonly line: number; readonly kind: 'duplicate' }
  | { readonly line: number; readonly kind: 'id-mismatch'; readonly existingId: string };

/** What a batch did: every user is counted once, as created, updated, skipped (unchanged) or a finding. */
export interface UserBatchResult {
  readonly created: number;
  readonly updated: number;
  readonly skipped: number;
  readonly findings: readonly BatchFinding[];
}

/** One run of batches (an import job). */
export interface UserBatchRun {
  /** Recorded on every user the run writes (`users.imported_by`), to tell its own repeats. */
  readonly id: string;
  /**
   * `create` leaves existing emails alone (`email-taken`); `upsert` replaces every changeable
   * field of the user with that email (changes.ts), a field the row does not give with its default.
   */
  readonly mode: 'create' | 'upsert';
  /** Whether each created or updated user gets its `user.created`/`user.updated` event. */
  readonly events: boolean;
  readonly context: EventContext;
}

/**
 * Writes batches of users, one transaction each: the users, their events, and `alongside` (the
 * caller's own writes, given the transaction `Tx` and what the batch did) commit together or
 * not at all; a batch that threw wrote nothing and may be retried. `Done` is what `alongside`
 * returns: `void` where the transaction is stepped synchronously (SQLite), a promise where not.
 */
export interface UserBatchWriter<Tx, Done extends void | Promise<void>> {
  /**
   * True when the database does the work in another process (PostgreSQL): the caller may then
   * prepare the next batch while this one is written. False when writing keeps this thread busy.
   */
  readonly overlapsReading: boolean;
  write(users: readonly BatchUser[], alongside: (tx: Tx, result: UserBatchResult) => Done, signal: AbortSignal): Promise<UserBatchResult>;
  /**
   * Where the writer takes create batches encoded off its thread (SQLite: sqlite-batch-rows.ts),
   * what the encoder must know; absent where it does not (PostgreSQL, an upsert run).
   */
  readonly encoding?: CreatesEncoding;
  /** write() for a batch encoded with `encoding`: the same result, rows and events. */
  writeCreates?(
    encoded: EncodedCreates,
    alongside: (tx: Tx, result: UserBatchResult) => Done,
    signal: AbortSignal,
  ): Promise<UserBatchResult>;
  /** Releases what the writer holds (a pooled connection, connection settings). */
  close(): Promise<void>;
}
