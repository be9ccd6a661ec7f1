import { sqliteDialect } from '../db/dialect.js';
import type { EventContext, NewEvent } from '../events/model.js';
import { toEventRow } from '../events/sql-outbox.js';
import type { BatchUser } from './batch-store.js';
import { userCreated } from './events.js';
import type { User, UserId } from './model.js';
import { storedUserJson } from './document.js';
import { fromUserRow, insertValues, toUserRow, USER_ROW_COLUMNS, type StoredUserColumns, type UserRow } from './sql-row.js';

/**
 * A batch of new users as the parameters of their statements, made where the import reads the
 * file (a worker thread) for SqliteUserBatchWriter.writeCreates(), which only steps the prepared
 * statements with them. Why: SQLite writes on the thread that steps its statements, and an import
 * on one thread spent about as long reading, checking and mapping rows as SQLite spent inserting
 * them. Posted to the writing thread as users (nested objects), the rows cost that thread about
 * what parsing them had (structured cloning, bench/RESULTS.md "Import front half in a worker
 * thread"); as flat arrays they were cheap to receive but lived, on the writing thread's heap,
 * until their batch committed (peak RSS 182 → 362 MB for 1M rows). So they travel as bytes: one
 * buffer per batch, transferred, not copied, outside both heaps; the writing thread reads one row
 * at a time into the same two arrays, and a row's strings die young.
 *
 * The parameters are the per-row path's own (insertValues(toUserRow(user)), createdEventParameters()),
 * so a user and its `user.created` event are stored byte for byte as that path stores them. The
 * batch is stamped when it is made (`at`), a batch or two before it commits, as ids made then
 * (UUIDv7) are too.
 *
 * Layout, per row, little-endian: line (uint32), flags (uint8), the byte length of the row's text
 * (uint32), the row's text: every text parameter's, one after another, as UTF-8; then each insert
 * parameter (INSERT_COLUMNS) and, with events, each event parameter (EVENT_COLUMNS), as a tag
 * byte: 0 null, 1 int32 (4 bytes follow), 2 text (its length in UTF-16 units follows, a uint32).
 * A row's text is written and read in one call, and each parameter sliced from it: a call per
 * parameter (17 a row with events) was most of what encoding cost the worker and reading cost
 * the writing thread (bench/RESULTS.md, issue 15, twentieth pass). Slicing by UTF-16 units stays
 * aligned even for a lone surrogate: UTF-8 carries it as U+FFFD, one unit for one.
 */
export interface EncodedCreates {
  /** The rows: a view of its buffer, which may be transferred to another thread (a view keeps its offset and length). */
  readonly bytes: Uint8Array;
  readonly count: number;
  /** Whether each row carries its `user.created` event. */
  readonly events: boolean;
  /** The time every row of the batch carries (created_at, updated_at, its event's occurred_at). */
  readonly at: string;
}

/** What an encoder must know of the run: whether it writes per-user events, and their context. */
export interface CreatesEncoding {
  readonly events: boolean;
  readonly context: EventContext;
}

const MAYBE_DUPLICATE = 1;
const MARK_IF_UNCHANGED = 2;
const ID_GIVEN = 4;
const NULL = 0;
const INT = 1;
const TEXT = 2;

/** The events columns a `user.created` row is inserted with, in toEventRow()'s order. */
export const EVENT_COLUMNS = 'id, type, occurred_at, actor, request_id, subject_id, data';
const EVENT_PARAMETERS = EVENT_COLUMNS.split(', ').length;
const USER_PARAMETERS = USER_ROW_COLUMNS.length;
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

/**
 * eventParameters(userCreated(eventId, user, context)) for a user just mapped to its SQLite row
 * (`row`, toUserRow()'s): the event's document is written around the row's own JSON text and
 * times (storedUserJson()) instead of being built as objects and serialized again. Building and
 * serializing it was 13% of a per-user import's CPU samples (bench/RESULTS.md, issues 14 and 15,
 * fifteenth pass). Text of another shape (a year past 9999) takes the general path.
 */
export function createdEventParameters(eventId: string, user: User, row: UserRow, context: EventContext): unknown[] {
  const { attributes, profile, created_at: createdAt, updated_at: updatedAt } = row;
  const document =
    typeof createdAt === 'string' && typeof updatedAt === 'string'
      ? storedUserJson(user, { attributes, profile, createdAt, updatedAt })
      : undefined;
  if (document === undefined) return eventParameters(userCreated(eventId, user, context));
  return [eventId, 'user.created', createdAt, context.actor ?? null, context.requestId ?? null, user.id, `{"user":${document}}`];
}

/** Appends rows to a buffer that grows as needed. */
class Writer {
  bytes = Buffer.allocUnsafeSlow(64 * 1024);
  at = 0;

  #room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.at + n));
    this.bytes.copy(grown, 0, 0, this.at);
    this.bytes = grown;
  }

  row(line: number, flags: number, user: readonly unknown[], event: readonly unknown[] | undefined): void {
    let text = '';
    for (const v of user) if (typeof v === 'string') text += v;
    if (event !== undefined) for (const v of event) if (typeof v === 'string') text += v;
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    this.#room(9 + text.length * 3);
    this.at = this.bytes.writeUInt32LE(line, this.at);
    this.bytes[this.at++] = flags;
    const length = text.length === 0 ? 0 : this.bytes.write(text, this.at + 4, 'utf8');
    this.at = this.bytes.writeUInt32LE(length, this.at) + length;
    this.#parameters(user);
    if (event !== undefined) this.#parameters(event);
  }

  #parameters(values: readonly unknown[]): void {
    this.#room(5 * values.length);
    for (const v of values) {
      if (v === null || v === undefined) this.bytes[this.at++] = NULL;
      else if (typeof v === 'string') {
        this.bytes[this.at] = TEXT;
        this.at = this.bytes.writeUInt32LE(v.length, this.at + 1);
      } else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
        this.bytes[this.at] = INT;
        this.at = this.bytes.writeInt32LE(v, this.at + 1);
      } else throw new TypeError(`a batch parameter must be text, a 32-bit integer or null, not ${typeof v}`);
    }
  }
}

export function encodeCreates(users: readonly BatchUser[], encoding: CreatesEncoding, newId: () => string, now: Date): EncodedCreates {
  const out = new Writer();
  for (const row of users) {
    const user = newUser(row, newId, now);
    const flags =
      (row.maybeDuplicate ? MAYBE_DUPLICATE : 0) |
      (row.markIfUnchanged === true ? MARK_IF_UNCHANGED : 0) |
      (row.user.id === undefined ? 0 : ID_GIVEN);
    const r = toUserRow(user, sqliteDialect);
    out.row(row.line, flags, insertValues(r), encoding.events ? createdEventParameters(newId(), user, r, encoding.context) : undefined);
  }
  return { bytes: out.bytes.subarray(0, out.at), count: users.length, events: encoding.events, at: now.toISOString() };
}

/**
 * Reads an encoded batch one row at a time: `user` holds the row's insert parameters followed by
 * `runId` (the statement's `imported_by`), `event` its event's; both arrays are reused for every row.
 */
export class EncodedReader {
  readonly user: unknown[];
  readonly event: unknown[];
  line = 0;
  flags = 0;
  readonly #events: boolean;
  readonly #bytes: Buffer;
  #at = 0;
  /** The current row's text, and where in it the next text parameter starts. */
  #text = '';
  #from = 0;

  constructor(encoded: EncodedCreates, runId: string) {
    this.#events = encoded.events;
    this.#bytes = Buffer.from(encoded.bytes.buffer, encoded.bytes.byteOffset, encoded.bytes.byteLength);
    this.user = new Array<unknown>(USER_PARAMETERS + 1).fill(null);
    this.user[USER_PARAMETERS] = runId;
    this.event = new Array<unknown>(EVENT_PARAMETERS).fill(null);
  }

  /** Moves to the next row; false at the end. */
  next(): boolean {
    const bytes = this.#bytes;
    if (this.#at >= bytes.length) return false;
    this.line = bytes.readUInt32LE(this.#at);
    this.flags = bytes[this.#at + 4]!;
    const from = this.#at + 9;
    this.#at = from + bytes.readUInt32LE(this.#at + 5);
    this.#text = from === this.#at ? '' : bytes.toString('utf8', from, this.#at);
    this.#from = 0;
    for (let i = 0; i < USER_PARAMETERS; i++) this.user[i] = this.#value();
    if (this.#events) for (let i = 0; i < EVENT_PARAMETERS; i++) this.event[i] = this.#value();
    return true;
  }

  /** The current row as the per-row path takes it (its id kept only where the file gave it). */
  batchUser(): BatchUser {
    const stored = Object.fromEntries(USER_ROW_COLUMNS.map((name, c) => [name, this.user[c]])) as unknown as StoredUserColumns;
    const { id, email, name, active, externalId, givenName, familyName, attributes, profile } = fromUserRow(stored, sqliteDialect);
    const user = { email, name, active, externalId, givenName, familyName, attributes, profile };
    return {
      line: this.line,
      user: (this.flags & ID_GIVEN) === 0 ? user : { ...user, id },
      maybeDuplicate: (this.flags & MAYBE_DUPLICATE) !== 0,
      ...((this.flags & MARK_IF_UNCHANGED) === 0 ? {} : { markIfUnchanged: true }),
    };
  }

  #value(): unknown {
    const bytes = this.#bytes;
    const tag = bytes[this.#at];
    if (tag === TEXT) {
      const from = this.#from;
      this.#from = from + bytes.readUInt32LE(this.#at + 1);
      this.#at += 5;
      return this.#text.slice(from, this.#from);
    }
    if (tag === INT) {
      const n = bytes.readInt32LE(this.#at + 1);
      this.#at += 5;
      return n;
    }
    this.#at += 1;
    return null;
  }
}

/** Every user of an encoded batch, as the per-row path takes them. */
export function decodeCreates(encoded: EncodedCreates): BatchUser[] {
  const reader = new EncodedReader(encoded, '');
  const users: BatchUser[] = [];
  while (reader.next()) users.push(reader.batchUser());
  return users;
}
