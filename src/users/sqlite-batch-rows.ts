import { sqliteDialect } from '../db/dialect.js';
import type { EventContext, NewEvent } from '../events/model.js';
import { toEventRow } from '../events/sql-outbox.js';
import type { BatchUser } from './batch-store.js';
import { userCreated } from './events.js';
import type { User, UserId } from './model.js';
import { fromUserRow, insertValues, toUserRow, USER_ROW_COLUMNS, type StoredUserColumns } from './sql-row.js';

/**
 * A batch of new users as the parameters of their statements, made where the import reads the
 * file (a worker thread) for SqliteUserBatchWriter.writeCreates(), which only steps the prepared
 * statements with them. Why: SQLite writes on the thread that steps its statements, and an import
 * on one thread spent about as long reading, checking and mapping rows as SQLite spent inserting
 * them. Posted to the writing thread as users (nested objects: attributes, profile), the rows cost
 * that thread about what parsing them had (structured cloning, bench/RESULTS.md "Import front half
 * in a worker thread"); flat arrays of strings and numbers cost it a fraction of that.
 *
 * The parameters are the per-row path's own (insertValues(toUserRow(user)), toEventRow(userCreated())),
 * so a user and its `user.created` event are stored byte for byte as that path stores them. The
 * batch is stamped when it is made (`at`), a batch or two before it commits, as ids made then
 * (UUIDv7) are too.
 */
export interface EncodedCreates {
  /** Each user's insert parameters: INSERT_COLUMNS, then the run's id (`imported_by`). */
  readonly users: readonly (readonly unknown[])[];
  /** Each user's file line and flags (maybe a duplicate, mark if unchanged, id given): what a finding needs. */
  readonly lines: readonly number[];
  readonly flags: readonly number[];
  /** Each user's `user.created` event parameters (EVENT_COLUMNS), when the run writes them. */
  readonly events: readonly (readonly unknown[])[] | undefined;
  /** The time every row of the batch carries (created_at, updated_at, its event's occurred_at). */
  readonly at: string;
}

/** What an encoder must know of the run: its id, whether it writes per-user events, and their context. */
export interface CreatesEncoding {
  readonly runId: string;
  readonly events: boolean;
  readonly context: EventContext;
}

const MAYBE_DUPLICATE = 1;
const MARK_IF_UNCHANGED = 2;
const ID_GIVEN = 4;

/** The events columns a `user.created` row is inserted with, in toEventRow()'s order. */
export const EVENT_COLUMNS = 'id, type, occurred_at, actor, request_id, subject_id, data';
/** Where a user's email key is among its insert parameters. */
export const EMAIL_KEY_PARAMETER = USER_ROW_COLUMNS.indexOf('email_key');

/** The user a batch row creates: its id, or a new one, at version 1. */
export function newUser(row: BatchUser, newId: () => string, now: Date): User {
  // Spelled out: a spread of the row's user was a third of encodeCreates()'s loop.
  return {
    id: row.user.id ?? (newId() as UserId),
    email: row.user.email,
    name: row.user.name,
    active: row.user.active,
    externalId: row.user.externalId,
    givenName: row.user.givenName,
    familyName: row.user.familyName,
    attributes: row.user.attributes,
    profile: row.user.profile,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

/** An event's parameters for `insert into events (EVENT_COLUMNS)`. */
export function eventParameters(event: NewEvent): unknown[] {
  const e = toEventRow(event, sqliteDialect);
  return [e.id, e.type, e.occurred_at, e.actor, e.request_id, e.subject_id, e.data];
}

export function encodeCreates(users: readonly BatchUser[], encoding: CreatesEncoding, newId: () => string, now: Date): EncodedCreates {
  const rows: unknown[][] = [];
  const lines: number[] = [];
  const flags: number[] = [];
  const events: unknown[][] | undefined = encoding.events ? [] : undefined;
  for (const row of users) {
    const user = newUser(row, newId, now);
    const values = insertValues(toUserRow(user, sqliteDialect));
    values.push(encoding.runId);
    rows.push(values);
    lines.push(row.line);
    flags.push(
      (row.maybeDuplicate ? MAYBE_DUPLICATE : 0) |
        (row.markIfUnchanged === true ? MARK_IF_UNCHANGED : 0) |
        (row.user.id === undefined ? 0 : ID_GIVEN),
    );
    if (events !== undefined) events.push(eventParameters(userCreated(newId(), user, encoding.context)));
  }
  return { users: rows, lines, flags, events, at: now.toISOString() };
}

/** The i-th user of an encoded batch, as the per-row path takes it (its id kept only where the file gave it). */
export function decodeCreate(encoded: EncodedCreates, i: number): BatchUser {
  const values = encoded.users[i]!;
  const flags = encoded.flags[i]!;
  const stored = Object.fromEntries(USER_ROW_COLUMNS.map((name, c) => [name, values[c]])) as unknown as StoredUserColumns;
  const { id, email, name, active, externalId, givenName, familyName, attributes, profile } = fromUserRow(stored, sqliteDialect);
  const user = { email, name, active, externalId, givenName, familyName, attributes, profile };
  return {
    line: encoded.lines[i]!,
    user: (flags & ID_GIVEN) === 0 ? user : { ...user, id },
    maybeDuplicate: (flags & MAYBE_DUPLICATE) !== 0,
    ...((flags & MARK_IF_UNCHANGED) === 0 ? {} : { markIfUnchanged: true }),
  };
}

/** Every user of an encoded batch (decodeCreate()). */
export function decodeCreates(encoded: EncodedCreates): BatchUser[] {
  return encoded.users.map((_, i) => decodeCreate(encoded, i));
}
