import { createHash } from 'node:crypto';
import type { CursorCodec } from '../kit/cursor.js';
import { InvalidCursorError } from '../kit/cursor.js';
import { inBatches } from '../kit/batches.js';
import { lazy } from '../kit/lazy.js';
import { ValidationError } from '../kit/errors.js';
import { offsetPage } from '../kit/offset-page.js';
import { DEFAULT_PAGE_POSITIONS, PagePositions } from '../kit/page-positions.js';
import { inSpan } from '../kit/trace.js';
import { abortSignalOf, type Cancellation } from '../kit/deadline.js';
import { IdempotencyKeyReusedError, IdempotencyKeyTakenError, UserNotFoundError, VersionMismatchError } from './errors.js';
import { foldKey, parseNewUser, parseUserId, type NewUser, type NewUserInput, type User, type UserId } from './model.js';
import { applyUserPatch } from './patch.js';
import type { ListedUserJson, UserJson } from './document.js';
import type { EventContext, NewEvent } from '../events/model.js';
import { userCreated, userDeleted, userUpdated } from './events.js';
import {
  inRange,
  mergeSearchPage,
  prefixRange,
  type Keyed,
  type KeyedUser,
  type KeyPosition,
  type KeyRange,
  type SearchKey,
} from './search.js';

/** A remembered `Idempotency-Key`: who used it, for which request, and what it produced. */
export interface IdempotencyRecord {
  readonly scope: string;
  readonly key: string;
  /** SHA-256 of the canonical request, so a reuse with another body is detected. */
  readonly fingerprint: string;
  readonly user: User;
  readonly expiresAt: Date;
}

/**
 * Keyset page request in id order: users with id greater than `afterId` (all users when absent).
 * `active` keeps the users in that state (its index on (active, id) makes that a range too).
 * With `emailKey` or `externalId` (one user at most each), `prefix` further requires one of its
 * keys in that range; a prefix search over all users is UserStore.search(), never this.
 */
export type UserPageQuery = {
  readonly afterId?: UserId;
  readonly limit: number;
  readonly active?: boolean;
} & (
  | {
      /** The exact email to match, as its `foldKey()`. */
      readonly emailKey: string;
      /** The exact external id to match (compared as it is, case-sensitively). */
      readonly externalId?: string;
      readonly prefix?: KeyRange;
    }
  | { readonly emailKey?: undefined; readonly externalId: string; readonly prefix?: KeyRange }
  | { readonly emailKey?: undefined; readonly externalId?: undefined; readonly prefix?: undefined }
);

/** One scan of a prefix search (users/search.ts): users whose `key` is in [after, below), after `after` in (key, id) order. */
export interface KeyRangeQuery {
  readonly key: SearchKey;
  /** Exclusive: the scan starts at the first position after it. A first page starts after (prefix, ''). */
  readonly after: KeyPosition;
  /** Exclusive upper end of the key; undefined: none. */
  readonly below: string | undefined;
  readonly limit: number;
}

/**
 * The storage port the users capability owns. Adapters: SqliteUserStore (SQLite, prepared
 * statements on better-sqlite3) and PostgresUserStore (PostgreSQL, on pg); compose/users.ts picks.
 * Every method is atomic; read-modify-write happens inside the store's transaction through
 * the callback, so a concurrent writer can never interleave.
 */
export interface UserStore {
  /**
   * Inserts the user, its event and, when given, its idempotency record in one transaction.
   * @throws EmailTakenError, IdempotencyKeyTakenError
   */
  create(user: User, idempotency: IdempotencyRecord | undefined, event: NewEvent, signal?: Cancellation): Promise<void>;
  /** The unexpired record for a key, if any. */
  findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<IdempotencyRecord | undefined>;
  get(id: UserId, signal?: Cancellation): Promise<User | undefined>;
  /** The user's wire document and version, as get() would give them to userJson(). */
  getJson(id: UserId, signal?: Cancellation): Promise<UserJson | undefined>;
  /** One page in id order; the work is bounded by `limit` (an index range scan). */
  list(query: UserPageQuery, signal?: Cancellation): Promise<User[]>;
  /** list()'s page as each user's id and wire document, written from the row as getJson() writes it, with no User made. */
  listJson(query: UserPageQuery, signal?: Cancellation): Promise<ListedUserJson[]>;
  /**
   * Walks at most `n` ids after `afterId` (all users when absent) in id order: how many it passed
   * and the last one. One bounded index range scan, for positional pages (kit/offset-page.ts).
   */
  skip(afterId: UserId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: UserId | undefined }>;
  /** One page of one key's index range, in (key, id) order; the work is bounded by `limit`. */
  search(query: KeyRangeQuery, signal?: Cancellation): Promise<KeyedUser[]>;
  /** search()'s rows with each user as its id and wire document, as listJson() reads them. */
  searchJson(query: KeyRangeQuery, signal?: Cancellation): Promise<Keyed<ListedUserJson>[]>;
  /**
   * Reads the user, passes it to `change` and writes what it returns with the event `describe`
   * makes of the change (nothing, and no event, if it returns the same object), all in one
   * transaction. `change` and `describe` may run more than once (an adapter that reads without a
   * lock calls them again on the current user if the first write lost a race); only the last
   * result is written, so they must not have effects of their own.
   * @throws UserNotFoundError, EmailTakenError, or whatever `change` throws
   */
  update(
    id: UserId,
    change: (current: User) => User,
    describe: (before: User, after: User) => NewEvent,
    signal?: Cancellation,
  ): Promise<User>;
  /**
   * Reads the user, lets `check` veto, then deletes it and writes the event `describe` makes,
   * in one transaction (the callbacks may run more than once, as in update()).
   * @throws UserNotFoundError, or whatever `check` throws
   */
  delete(id: UserId, check: (current: User) => void, describe: (deleted: User) => NewEvent, signal?: Cancellation): Promise<void>;
  /** Removes expired idempotency records, at most `limit`; returns how many. */
  purgeIdempotency(now: Date, limit: number, signal?: Cancellation): Promise<number>;
}

export interface UsersServiceOptions {
  readonly store: UserStore;
  readonly cursors: CursorCodec;
  readonly newId: () => string;
  readonly now?: () => Date;
  /** How long an Idempotency-Key is remembered. */
  readonly idempotencyTtlMs: number;
  /** Where page() calls ended (default: DEFAULT_PAGE_POSITIONS); tests give their own. */
  readonly pagePositions?: PagePositions<UserId>;
}

export interface ListUsersInput {
  readonly limit: number;
  readonly cursor?: string;
  readonly email?: string;
  readonly q?: string;
  /** Only active (true) or only deactivated (false) users; not with `q` alone (see #list()). */
  readonly active?: boolean;
  /** The user with exactly this external id, if any. */
  readonly externalId?: string;
}

/** One page of list(): the users (Users, or their wire documents for listJson()) and the cursor of the next page. */
export interface UserPage<U = User> {
  readonly users: U[];
  readonly nextCursor: string | null;
}

/**
 * The two reads a page is made of, over users read as U: list() and listJson() share one
 * implementation of the filters, cursors and search merge and differ only in these.
 */
interface PageReads<U extends { readonly id: UserId }> {
  list(query: UserPageQuery, signal?: Cancellation): Promise<U[]>;
  search(query: KeyRangeQuery, signal?: Cancellation): Promise<Keyed<U>[]>;
}

export interface CreateResult {
  readonly user: User;
  /** True when an earlier request with the same Idempotency-Key made this user. */
  readonly replayed: boolean;
}

/** Who is asking, for which request, and under which deadline. */
export interface RequestContext extends EventContext {
  /** A request's Deadline or any AbortSignal (kit/deadline.ts): read without making a signal where nothing listens. */
  readonly signal?: Cancellation;
  /** Partition for idempotency keys, so two callers cannot collide: the caller's actor (http/users.routes.ts). */
  readonly idempotencyScope?: string;
}

/** Use cases of the users capability. Knows nothing of HTTP or SQL. */
export class UsersService {
  readonly #store: UserStore;
  readonly #cursors: CursorCodec;
  readonly #newId: () => string;
  readonly #now: () => Date;
  readonly #idempotencyTtlMs: number;
  readonly #positions: PagePositions<UserId>;
  readonly #userReads: PageReads<User>;
  readonly #jsonReads: PageReads<ListedUserJson>;

  constructor(options: UsersServiceOptions) {
    const store = options.store;
    this.#store = store;
    this.#userReads = { list: (query, signal) => store.list(query, signal), search: (query, signal) => store.search(query, signal) };
    this.#jsonReads = {
      list: (query, signal) => store.listJson(query, signal),
      search: (query, signal) => store.searchJson(query, signal),
    };
    this.#cursors = options.cursors;
    this.#newId = options.newId;
    this.#now = options.now ?? (() => new Date());
    this.#idempotencyTtlMs = options.idempotencyTtlMs;
    this.#positions = options.pagePositions ?? new PagePositions(DEFAULT_PAGE_POSITIONS);
  }

  /**
   * Creates a user. With an idempotency key, a repeat of the same request returns the first
   * result, and a concurrent repeat waits for the first to commit rather than creating twice.
   * @throws ValidationError, EmailTakenError, ExternalIdTakenError, IdempotencyKeyReusedError
   */
  async create(input: NewUserInput, idempotencyKey: string | undefined, ctx: RequestContext = {}): Promise<CreateResult> {
    return inSpan('users.create', () => this.#create(input, idempotencyKey, ctx));
  }

  async #create(input: NewUserInput, idempotencyKey: string | undefined, ctx: RequestContext) {
    const newUser = parseNewUser(input);
    const now = this.#now();
    const user: User = {
      id: this.#newId() as UserId,
      ...newUser,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    const event = userCreated(this.#newId(), user, ctx);
    if (idempotencyKey === undefined) {
      await this.#store.create(user, undefined, event, ctx.signal);
      return { user, replayed: false };
    }
    const scope = ctx.idempotencyScope ?? '';
    const fingerprint = fingerprintOf(withoutDefaults(newUser));
    const earlier = await this.#replay(scope, idempotencyKey, fingerprint, now, ctx.signal);
    if (earlier) return earlier;
    const record = { scope, key: idempotencyKey, fingerprint, user, expiresAt: new Date(now.getTime() + this.#idempotencyTtlMs) };
    try {
      await this.#store.create(user, record, event, ctx.signal);
      return { user, replayed: false };
    } catch (error) {
      if (!(error instanceof IdempotencyKeyTakenError)) throw error;
      const winner = await this.#replay(scope, idempotencyKey, fingerprint, now, ctx.signal);
      if (winner) return winner;
      throw error;
    }
  }

  async #replay(scope: string, key: string, fingerprint: string, now: Date, signal?: Cancellation): Promise<CreateResult | undefined> {
    const record = await this.#store.findIdempotency(scope, key, now, signal);
    if (!record) return undefined;
    if (record.fingerprint !== fingerprint) {
      throw new IdempotencyKeyReusedError('This Idempotency-Key was already used with a different request body.');
    }
    return { user: record.user, replayed: true };
  }

  /** @throws ValidationError (bad id), UserNotFoundError */
  get(id: string, ctx: RequestContext = {}): Promise<User> {
    return this.#found(id, (userId) => this.#store.get(userId, ctx.signal));
  }

  /**
   * What get() finds as its wire document and version (users/document.ts), read without making
   * a User: what the HTTP API answers a GET with.
   * @throws ValidationError (bad id), UserNotFoundError
   */
  getJson(id: string, ctx: RequestContext = {}): Promise<UserJson> {
    return this.#found(id, (userId) => this.#store.getJson(userId, ctx.signal));
  }

  #found<T>(id: string, read: (id: UserId) => Promise<T | undefined>): Promise<T> {
    return inSpan('users.get', async () => {
      const found = await read(requireUserId(id));
      if (found === undefined) throw new UserNotFoundError(`No user has id ${id}.`);
      return found;
    });
  }

  /**
   * The user a provider knows by this external id (exact, case-sensitive match), if any: what
   * SCIM's `externalId eq` and a provider's reconciliation look up. One index lookup.
   */
  async findByExternalId(externalId: string, ctx: RequestContext = {}): Promise<User | undefined> {
    return inSpan('users.find-by-external-id', async () => {
      const [user] = await this.#store.list({ externalId, limit: 1 }, ctx.signal);
      return user;
    });
  }

  /**
   * One page: in id order, or with `q` alone in key order (users/search.ts). The cursor is
   * bound to the filters it was issued with.
   * @throws ValidationError when `active` comes with `q` but neither `email` nor `external_id`:
   *   a key-order scan that skipped users in the other state could read the whole index for a page.
   */
  async list(input: ListUsersInput, ctx: RequestContext = {}): Promise<UserPage> {
    return inSpan('users.list', () => this.#list(input, ctx, this.#userReads));
  }

  /**
   * list()'s page, the same users, cursor and errors, with each user as its id and wire document
   * written from its row (UserStore.listJson(), searchJson()): what the HTTP API answers a list
   * with, without a User (no JSON parsed, no Date made) for a document it only writes.
   * @throws ValidationError as list()
   */
  async listJson(input: ListUsersInput, ctx: RequestContext = {}): Promise<UserPage<ListedUserJson>> {
    return inSpan('users.list', () => this.#list(input, ctx, this.#jsonReads));
  }

  async #list<U extends { readonly id: UserId }>(input: ListUsersInput, ctx: RequestContext, reads: PageReads<U>): Promise<UserPage<U>> {
    const emailKey = input.email === undefined ? undefined : foldKey(input.email);
    const prefix = input.q === undefined ? undefined : foldKey(input.q);
    const { active, externalId } = input;
    const single = emailKey !== undefined || externalId !== undefined;
    if (prefix !== undefined && active !== undefined && !single) {
      throw new ValidationError(
        [{ pointer: '/active', message: 'cannot be combined with q unless email or external_id is given' }],
        'The filters cannot be combined.',
      );
    }
    // An unchanged tag for the filters that existed before `active` and `external_id`, so their cursors stay valid.
    // Made only when a cursor comes in or goes out (a hash per request otherwise: ~3 µs on the hot path).
    const filterTag = lazy(() => fingerprintOf({ emailKey, prefix, active, externalId }).slice(0, 16));
    const cursor = input.cursor === undefined ? undefined : this.#cursors.decode(input.cursor);
    if (cursor !== undefined && cursor.filter !== filterTag()) throw invalidCursor();
    // No stored key is ill-formed text (names are checked, emails are ASCII), so none starts with it.
    if (prefix !== undefined && !prefix.isWellFormed()) return { users: [], nextCursor: null };
    if (prefix !== undefined && !single) return this.#search(reads, prefixRange(prefix), input.limit, cursor, filterTag, ctx);
    const afterId = cursor === undefined ? undefined : cursorId(cursor);
    const base = { afterId, limit: input.limit + 1, ...(active === undefined ? {} : { active }) };
    const range = prefix === undefined ? {} : { prefix: prefixRange(prefix) };
    const query: UserPageQuery =
      emailKey !== undefined
        ? { ...base, emailKey, ...(externalId === undefined ? {} : { externalId }), ...range }
        : externalId !== undefined
          ? { ...base, externalId, ...range }
          : base;
    const rows = await reads.list(query, ctx.signal);
    const users = rows.slice(0, input.limit);
    const last = users.at(-1);
    const nextCursor = rows.length > input.limit && last ? this.#cursors.encode({ after: last.id, filter: filterTag() }) : null;
    return { users, nextCursor };
  }

  /** Both key scans from the same position, limit + 1 rows each, merged (mergeSearchPage()). */
  async #search<U extends { readonly id: UserId }>(
    reads: PageReads<U>,
    range: KeyRange,
    limit: number,
    cursor: Record<string, string> | undefined,
    filterTag: () => string,
    ctx: RequestContext,
  ): Promise<UserPage<U>> {
    let after: KeyPosition = { key: range.from, id: '' };
    if (cursor !== undefined) {
      after = { key: cursor.key ?? '', id: cursorId(cursor) };
      if (!inRange(after.key, range)) throw invalidCursor();
    }
    const scan = (key: SearchKey) => reads.search({ key, after, below: range.below, limit: limit + 1 }, ctx.signal);
    const [byEmail, byName] = await Promise.all([scan('email'), scan('name')]);
    const page = mergeSearchPage(range, byEmail, byName, limit);
    const nextCursor =
      page.next === undefined ? null : this.#cursors.encode({ key: page.next.key, after: page.next.id, filter: filterTag() });
    return { users: page.users, nextCursor };
  }

  /**
   * Users by position in id order (`offset` skipped, then `limit`) and how many there are: what
   * SCIM's startIndex paging needs. A page starting where a recent one ended seeks from its last
   * id, and a recent count of a large table is reused (up to 10 s old): sequential pages cost
   * O(limit). Otherwise the id index is walked, in chunks with the event loop turning between
   * them (kit/offset-page.ts): O(users) however small the page.
   */
  async page(offset: number, limit: number, ctx: RequestContext = {}): Promise<{ total: number; users: User[] }> {
    return inSpan('users.page', async () => {
      const { total, items } = await offsetPage<UserId, User>(
        {
          skip: (after, n, signal) => this.#store.skip(after, n, signal),
          list: (after, n, signal) => this.#store.list({ ...(after === undefined ? {} : { afterId: after }), limit: n }, signal),
          idOf: (user) => user.id,
          chunk: OFFSET_CHUNK,
        },
        offset,
        limit,
        abortSignalOf(ctx.signal),
        { positions: this.#positions, scope: 'users by id', rememberTotalAbove: OFFSET_CHUNK },
      );
      return { total, users: items };
    });
  }

  /**
   * PUT semantics on the fields a provider owns (SCIM): email, name, given and family names,
   * active, external id and the whole profile become what is given; `attributes` (the API
   * caller's own data) stay. Same rules, event and transaction as update().
   * @throws ValidationError, UserNotFoundError, VersionMismatchError, EmailTakenError, ExternalIdTakenError
   */
  async replace(id: string, input: ReplaceUserInput, ifMatch: readonly number[] | undefined, ctx: RequestContext = {}): Promise<User> {
    return inSpan('users.replace', () =>
      this.#store.update(
        requireUserId(id),
        (current) => {
          checkVersion(current, ifMatch);
          // A merge patch cannot say "exactly this object": keys the profile loses are removed by null.
          const profile: Record<string, unknown> = Object.fromEntries(Object.keys(current.profile).map((k) => [k, null]));
          const replacing = isPlainObjectValue(input.profile) ? { ...profile, ...input.profile } : input.profile;
          const changes = applyUserPatch(current, { ...input, profile: replacing });
          if (Object.keys(changes).length === 0) return current;
          return { ...current, ...changes, version: current.version + 1, updatedAt: this.#now() };
        },
        (before, after) => userUpdated(this.#newId(), before, after, ctx),
        ctx.signal,
      ),
    );
  }

  /**
   * Applies an RFC 7396 merge patch. `ifMatch` lists the versions the caller accepts (from
   * `If-Match`); undefined means any.
   * @throws ValidationError, UserNotFoundError, VersionMismatchError, EmailTakenError
   */
  async update(id: string, patch: unknown, ifMatch: readonly number[] | undefined, ctx: RequestContext = {}): Promise<User> {
    return inSpan('users.update', () =>
      this.#store.update(
        requireUserId(id),
        (current) => {
          checkVersion(current, ifMatch);
          const changes = applyUserPatch(current, patch);
          if (Object.keys(changes).length === 0) return current;
          return { ...current, ...changes, version: current.version + 1, updatedAt: this.#now() };
        },
        (before, after) => userUpdated(this.#newId(), before, after, ctx),
        ctx.signal,
      ),
    );
  }

  /** @throws UserNotFoundError, VersionMismatchError */
  async delete(id: string, ifMatch: readonly number[] | undefined, ctx: RequestContext = {}): Promise<void> {
    await inSpan('users.delete', () =>
      this.#store.delete(
        requireUserId(id),
        (current) => checkVersion(current, ifMatch),
        (deleted) => userDeleted(this.#newId(), deleted, ctx, this.#now()),
        ctx.signal,
      ),
    );
  }

  /** Forgets expired idempotency keys in batches of `batchSize` until none is left; returns how many went. */
  async purgeExpiredIdempotencyKeys(batchSize: number, signal?: AbortSignal): Promise<number> {
    const now = this.#now();
    return inBatches(batchSize, (limit) => this.#store.purgeIdempotency(now, limit, signal), signal);
  }
}

/** Ids one step of a positional walk passes: about a third of a millisecond of SQLite's time at 1M users. */
const OFFSET_CHUNK = 10_000;

/** What replace() sets, as the API names the fields. */
export interface ReplaceUserInput {
  readonly email: unknown;
  readonly name: unknown;
  readonly given_name: unknown;
  readonly family_name: unknown;
  readonly active: unknown;
  readonly external_id: unknown;
  readonly profile: unknown;
}

function isPlainObjectValue(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkVersion(current: User, accepted: readonly number[] | undefined): void {
  if (accepted !== undefined && !accepted.includes(current.version)) {
    throw new VersionMismatchError(`The user changed: it is at version ${current.version}, which If-Match does not name.`);
  }
}

function invalidCursor(): InvalidCursorError {
  return new InvalidCursorError('The cursor is not valid for this query.');
}

/** The id a cursor's page starts after. */
function cursorId(cursor: Record<string, string>): UserId {
  const parsed = parseUserId(cursor.after ?? '');
  if (!parsed.ok) throw invalidCursor();
  return parsed.value;
}

function requireUserId(id: string): UserId {
  const parsed = parseUserId(id);
  if (!parsed.ok) throw new ValidationError([{ pointer: '/id', message: parsed.message }], 'The user id is malformed.');
  return parsed.value;
}

/**
 * A create's fields without those at their defaults, for its idempotency fingerprint: a request
 * remembered before the provisioning fields existed fingerprints as it did then, so its retry
 * still replays.
 */
function withoutDefaults(user: NewUser): Record<string, unknown> {
  return {
    email: user.email,
    name: user.name,
    attributes: user.attributes,
    ...(user.active ? {} : { active: false }),
    ...(user.externalId === null ? {} : { externalId: user.externalId }),
    ...(user.givenName === null ? {} : { givenName: user.givenName }),
    ...(user.familyName === null ? {} : { familyName: user.familyName }),
    ...(Object.keys(user.profile).length === 0 ? {} : { profile: user.profile }),
  };
}

/** SHA-256 over JSON with sorted keys, so field order in a request does not matter. */
function fingerprintOf(value: NewUser | Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
