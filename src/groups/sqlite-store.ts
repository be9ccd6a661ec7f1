import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { outageError, sqliteDialect } from '../db/dialect.js';
import type { RawStatement, StatementObserver } from '../db/instrumentation.js';
import type { Schema } from '../db/schema.js';
import { SqliteTurns } from '../db/sqlite-turns.js';
import { allObserved, getObserved, runObserved, SQLITE_LIMIT, type PreparedStatement } from '../db/sqlite-steps.js';
import type { NewEvent } from '../events/model.js';
import { toEventRow } from '../events/sql-outbox.js';
import type { UserId } from '../users/model.js';
import { IdempotencyKeyTakenError } from '../users/errors.js';
import { GroupExternalIdTakenError, GroupNameTakenError, GroupNotFoundError, MembersNotFoundError } from './errors.js';
import { membershipEvents } from './events.js';
import type { Group, GroupId } from './model.js';
import type { Cancellation } from '../kit/deadline.js';
import type { GroupIdempotency, GroupStore, GroupWrite, Member, MembersChange, MembersOutcome, NameKeyRange } from './service.js';
import {
  GROUP_COLUMNS,
  fromGroupRow,
  fromGroupSnapshot,
  isIdempotencyKeyConflict,
  toGroupSnapshot,
  fromMemberRow,
  groupValues,
  isForeignKeyViolation,
  violatedGroupKey,
  type StoredGroup,
  type StoredMember,
} from './sql-row.js';

type Prepared = PreparedStatement;

const G_COLUMNS = GROUP_COLUMNS.split(', ')
  .map((c) => `g.${c}`)
  .join(', ');

function prepareGroupStatements(connection: SQLite.Database) {
  const prepare = (operation: RawStatement['operation'], table: string, text: string): Prepared => ({
    operation,
    table,
    text,
    statement: connection.prepare(text),
  });
  const search = (inclusive: boolean, below: boolean) =>
    prepare(
      'select',
      'groups',
      `select ${GROUP_COLUMNS} from groups where display_name_key ${inclusive ? '>=' : '>'} ?${below ? ' and display_name_key < ?' : ''} order by display_name_key ${SQLITE_LIMIT}`,
    );
  return {
    get: prepare('select', 'groups', `select ${GROUP_COLUMNS} from groups where id = ?`),
    byNameKey: prepare('select', 'groups', `select ${GROUP_COLUMNS} from groups where display_name_key = ?`),
    byExternalId: prepare('select', 'groups', `select ${GROUP_COLUMNS} from groups where external_id = ?`),
    list: prepare('select', 'groups', `select ${GROUP_COLUMNS} from groups where id > ? order by id ${SQLITE_LIMIT}`),
    // The steps of GroupStore.skip(), as users' skipTo and skipRest.
    skipTo: prepare('select', 'groups', 'select id from groups where id > ? order by id limit 1 offset ?'),
    skipRest: prepare(
      'select',
      'groups',
      `select count(*) as passed, max(id) as last from (select id from groups where id > ? order by id ${SQLITE_LIMIT})`,
    ),
    // [inclusive][below]
    search: [
      [search(false, false), search(false, true)],
      [search(true, false), search(true, true)],
    ] as const,
    insert: prepare(
      'insert',
      'groups',
      'insert into groups (id, display_name, display_name_key, external_id, attributes, member_count, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    update: prepare(
      'update',
      'groups',
      'update groups set display_name = ?, display_name_key = ?, external_id = ?, attributes = ?, member_count = ?, version = ?, updated_at = ? where id = ?',
    ),
    delete: prepare('delete', 'groups', 'delete from groups where id = ?'),
    userExists: prepare('select', 'users', 'select 1 as found from users where id = ?'),
    // OR IGNORE covers the primary key (already a member), not the foreign key: a missing user still fails.
    addMember: prepare('insert', 'group_members', 'insert or ignore into group_members (group_id, user_id, added_at) values (?, ?, ?)'),
    removeMember: prepare('delete', 'group_members', 'delete from group_members where group_id = ? and user_id = ?'),
    memberIds: prepare('select', 'group_members', 'select user_id from group_members where group_id = ?'),
    members: prepare(
      'select',
      'group_members',
      `select u.id, u.email, u.name, m.added_at from group_members m join users u on u.id = m.user_id
       where m.group_id = ? and m.user_id > ? order by m.user_id ${SQLITE_LIMIT}`,
    ),
    groupsOf: prepare(
      'select',
      'group_members',
      `select ${G_COLUMNS} from group_members m join groups g on g.id = m.group_id where m.user_id = ? and m.group_id > ? order by m.group_id ${SQLITE_LIMIT}`,
    ),
    groupIdsOfUser: prepare('select', 'group_members', 'select group_id from group_members where user_id = ? order by group_id'),
    afterUserLeft: prepare(
      'update',
      'groups',
      'update groups set member_count = member_count - 1, version = version + 1, updated_at = ? where id = ? returning version',
    ),
    findIdempotency: prepare(
      'select',
      'idempotency_keys',
      'select fingerprint, result, expires_at from idempotency_keys where scope = ? and "key" = ? and expires_at > ?',
    ),
    deleteExpiredIdempotency: prepare(
      'delete',
      'idempotency_keys',
      'delete from idempotency_keys where scope = ? and "key" = ? and expires_at <= ?',
    ),
    insertIdempotency: prepare(
      'insert',
      'idempotency_keys',
      'insert into idempotency_keys (scope, "key", fingerprint, result, created_at, expires_at) values (?, ?, ?, ?, ?, ?)',
    ),
    insertEvent: prepare(
      'insert',
      'events',
      'insert into events (id, type, occurred_at, actor, request_id, subject_id, data) values (?, ?, ?, ?, ?, ?, ?)',
    ),
  };
}
type GroupStatements = ReturnType<typeof prepareGroupStatements>;

export interface SqliteGroupStoreOptions {
  /** Only for its lock on the one connection (as SqliteUserStore). */
  readonly db: Kysely<Schema>;
  readonly connection: SQLite.Database;
  readonly observe: StatementObserver;
  readonly onEventsCommitted?: (() => void) | undefined;
}

const COMMIT: RawStatement = { operation: 'other', table: 'groups', text: 'commit' };

/**
 * The GroupStore adapter for SQLite: prepared statements stepped synchronously, each change one
 * BEGIN IMMEDIATE transaction (as users/sqlite-store.ts, whose notes on the connection shared
 * with Kysely apply here too). SQLite has one writer, so changes of one group are serialised
 * by the database itself.
 */
export class SqliteGroupStore implements GroupStore {
  readonly #observe: StatementObserver;
  readonly #s: GroupStatements;
  readonly #onEventsCommitted: (() => void) | undefined;
  readonly #turns: SqliteTurns;
  readonly #createTx: SQLite.Transaction<
    (group: Group, memberIds: readonly UserId[], events: readonly NewEvent[], idempotency: GroupIdempotency | undefined) => void
  >;
  readonly #changeTx: SQLite.Transaction<
    (
      id: GroupId,
      members: MembersChange,
      edit: (current: Group) => Group,
      finish: (before: Group, edited: Group, outcome: MembersOutcome) => GroupWrite | undefined,
    ) => { group: Group; outcome: MembersOutcome; wrote: boolean }
  >;
  readonly #deleteTx: SQLite.Transaction<(id: GroupId, check: (current: Group) => void, describe: (deleted: Group) => NewEvent) => void>;

  constructor(options: SqliteGroupStoreOptions) {
    this.#observe = options.observe;
    this.#onEventsCommitted = options.onEventsCommitted;
    this.#s = prepareGroupStatements(options.connection);
    this.#turns = new SqliteTurns(options.db, options.connection, translated);
    this.#createTx = options.connection.transaction(this.#createIn.bind(this));
    this.#changeTx = options.connection.transaction(this.#changeIn.bind(this));
    this.#deleteTx = options.connection.transaction(this.#deleteIn.bind(this));
  }

  async create(
    group: Group,
    memberIds: readonly UserId[],
    events: readonly NewEvent[],
    idempotency: GroupIdempotency | undefined,
    signal?: Cancellation,
  ): Promise<void> {
    signal?.throwIfAborted();
    await this.#turns.write(() => this.#committed(() => this.#createTx.immediate(group, memberIds, events, idempotency)), signal);
  }

  async findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<GroupIdempotency | undefined> {
    signal?.throwIfAborted();
    const row = await this.#turns.run(
      () => this.#get<{ fingerprint: string; result: string; expires_at: string }>(this.#s.findIdempotency, scope, key, now.toISOString()),
      signal,
    );
    if (row === undefined) return undefined;
    return { scope, key, fingerprint: row.fingerprint, group: fromGroupSnapshot(row.result), expiresAt: new Date(row.expires_at) };
  }

  async get(id: GroupId, signal?: Cancellation): Promise<Group | undefined> {
    return this.#one(this.#s.get, [id], signal);
  }

  async findByNameKey(key: string, signal?: Cancellation): Promise<Group | undefined> {
    return this.#one(this.#s.byNameKey, [key], signal);
  }

  async findByExternalId(externalId: string, signal?: Cancellation): Promise<Group | undefined> {
    return this.#one(this.#s.byExternalId, [externalId], signal);
  }

  async list(afterId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[]> {
    return this.#many(this.#s.list, [afterId ?? '', limit], signal);
  }

  async skip(afterId: GroupId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: GroupId | undefined }> {
    signal?.throwIfAborted();
    return this.#turns.run(() => {
      const nth = this.#get<{ id: GroupId }>(this.#s.skipTo, afterId ?? '', n - 1);
      if (nth !== undefined) return { passed: n, last: nth.id };
      const rest = this.#get<{ passed: number; last: GroupId | null }>(this.#s.skipRest, afterId ?? '', n)!;
      return { passed: rest.passed, last: rest.last ?? undefined };
    }, signal);
  }

  async search(range: NameKeyRange, limit: number, signal?: Cancellation): Promise<Group[]> {
    const statement = this.#s.search[range.inclusive ? 1 : 0][range.below === undefined ? 0 : 1];
    const params = range.below === undefined ? [range.from, limit] : [range.from, range.below, limit];
    return this.#many(statement, params, signal);
  }

  async change(
    id: GroupId,
    members: MembersChange,
    edit: (current: Group) => Group,
    finish: (before: Group, edited: Group, outcome: MembersOutcome) => GroupWrite | undefined,
    signal?: Cancellation,
  ): Promise<{ group: Group; outcome: MembersOutcome }> {
    signal?.throwIfAborted();
    const { group, outcome } = await this.#turns.write(
      () => this.#committed(() => this.#changeTx.immediate(id, members, edit, finish)),
      signal,
    );
    return { group, outcome };
  }

  async delete(id: GroupId, check: (current: Group) => void, describe: (deleted: Group) => NewEvent, signal?: Cancellation): Promise<void> {
    signal?.throwIfAborted();
    await this.#turns.write(() => this.#committed(() => this.#deleteTx.immediate(id, check, describe)), signal);
  }

  async members(id: GroupId, afterUserId: UserId | undefined, limit: number, signal?: Cancellation): Promise<Member[] | undefined> {
    signal?.throwIfAborted();
    return this.#turns.run(() => {
      const rows = this.#all<StoredMember>(this.#s.members, [id, afterUserId ?? '', limit]);
      if (rows.length === 0 && this.#get(this.#s.get, id) === undefined) return undefined;
      return rows.map((row) => fromMemberRow(row, sqliteDialect));
    }, signal);
  }

  async groupsOf(userId: UserId, afterGroupId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[] | undefined> {
    signal?.throwIfAborted();
    return this.#turns.run(() => {
      const rows = this.#all<StoredGroup>(this.#s.groupsOf, [userId, afterGroupId ?? '', limit]);
      if (rows.length === 0 && this.#get(this.#s.userExists, userId) === undefined) return undefined;
      return rows.map((row) => fromGroupRow(row, sqliteDialect));
    }, signal);
  }

  /**
   * The hook the users store runs inside a user's deletion (compose/users.ts): the user leaves
   * every group, each group one version more, with a group.members_removed event per group.
   * Synchronous, on the same connection, inside the caller's transaction.
   */
  removeUserEverywhere(newId: () => string): (userId: UserId, deleted: NewEvent) => void {
    return (userId, deleted) => {
      const groups = this.#all<{ group_id: string }>(this.#s.groupIdsOfUser, [userId]);
      const at = sqliteDialect.toTime(deleted.occurredAt);
      for (const { group_id } of groups) {
        this.#run(this.#s.removeMember, group_id, userId);
        const { version } = this.#get<{ version: number }>(this.#s.afterUserLeft, at, group_id)!;
        const ctx = { actor: deleted.actor ?? undefined, requestId: deleted.requestId ?? undefined };
        for (const event of membershipEvents(
          newId,
          'group.members_removed',
          { id: group_id, version },
          [userId],
          ctx,
          deleted.occurredAt,
          'user_deleted',
        )) {
          this.#appendEvent(event);
        }
      }
    };
  }

  #createIn(group: Group, memberIds: readonly UserId[], events: readonly NewEvent[], idempotency: GroupIdempotency | undefined): void {
    if (idempotency !== undefined) {
      const now = group.createdAt.toISOString();
      this.#run(this.#s.deleteExpiredIdempotency, idempotency.scope, idempotency.key, now);
      const { scope, key, fingerprint, expiresAt } = idempotency;
      this.#run(this.#s.insertIdempotency, scope, key, fingerprint, toGroupSnapshot(idempotency.group), now, expiresAt.toISOString());
    }
    this.#requireUsers(memberIds);
    this.#run(this.#s.insert, ...groupValues(group, sqliteDialect));
    const at = sqliteDialect.toTime(group.createdAt);
    for (const userId of memberIds) this.#run(this.#s.addMember, group.id, userId, at);
    for (const event of events) this.#appendEvent(event);
  }

  #changeIn(
    id: GroupId,
    members: MembersChange,
    edit: (current: Group) => Group,
    finish: (before: Group, edited: Group, outcome: MembersOutcome) => GroupWrite | undefined,
  ): { group: Group; outcome: MembersOutcome; wrote: boolean } {
    const row = this.#get<StoredGroup>(this.#s.get, id);
    if (row === undefined) throw new GroupNotFoundError(`No group has id ${id}.`);
    const before = fromGroupRow(row, sqliteDialect);
    const edited = edit(before);
    const toAdd = members.replace ?? members.add ?? [];
    this.#requireUsers(toAdd);
    const now = new Date().toISOString();
    const added: UserId[] = [];
    const removed: UserId[] = [];
    let toRemove: readonly UserId[] = members.remove ?? [];
    if (members.replace !== undefined) {
      const keep = new Set<string>(members.replace);
      toRemove = this.#all<{ user_id: UserId }>(this.#s.memberIds, [id])
        .map((r) => r.user_id)
        .filter((userId) => !keep.has(userId));
    }
    for (const userId of toRemove) if (this.#run(this.#s.removeMember, id, userId).changes === 1) removed.push(userId);
    for (const userId of toAdd) if (this.#run(this.#s.addMember, id, userId, now).changes === 1) added.push(userId);
    const outcome = { added, removed, memberCount: before.memberCount + added.length - removed.length };
    const write = finish(before, edited, outcome);
    if (write === undefined) return { group: before, outcome, wrote: false };
    const [, displayName, nameKey, externalId, attributes, memberCount, version, , updatedAt] = groupValues(write.group, sqliteDialect);
    this.#run(this.#s.update, displayName, nameKey, externalId, attributes, memberCount, version, updatedAt, id);
    for (const event of write.events) this.#appendEvent(event);
    return { group: write.group, outcome, wrote: true };
  }

  #deleteIn(id: GroupId, check: (current: Group) => void, describe: (deleted: Group) => NewEvent): void {
    const row = this.#get<StoredGroup>(this.#s.get, id);
    if (row === undefined) throw new GroupNotFoundError(`No group has id ${id}.`);
    const current = fromGroupRow(row, sqliteDialect);
    check(current);
    this.#run(this.#s.delete, id);
    this.#appendEvent(describe(current));
  }

  /** Every id a user's, or the whole batch fails listing those that are not. */
  #requireUsers(userIds: readonly UserId[]): void {
    const missing = userIds.filter((userId) => this.#get(this.#s.userExists, userId) === undefined);
    if (missing.length > 0) throw new MembersNotFoundError(missing);
  }

  #appendEvent(event: NewEvent): void {
    const e = toEventRow(event, sqliteDialect);
    this.#run(this.#s.insertEvent, e.id, e.type, e.occurred_at, e.actor, e.request_id, e.subject_id, e.data);
  }

  /** Runs a transaction; announces the commit when it wrote (every write of this store appends an event). */
  #committed<T>(transaction: () => T): T {
    const startedAt = performance.now();
    const result = transaction();
    const unchanged = typeof result === 'object' && result !== null && 'wrote' in result && result.wrote === false;
    if (!unchanged) {
      this.#observe(COMMIT, startedAt);
      this.#onEventsCommitted?.();
    }
    return result;
  }

  async #one(p: Prepared, params: unknown[], signal: Cancellation | undefined): Promise<Group | undefined> {
    signal?.throwIfAborted();
    const row = await this.#turns.run(() => this.#get<StoredGroup>(p, ...params), signal);
    return row === undefined ? undefined : fromGroupRow(row, sqliteDialect);
  }

  async #many(p: Prepared, params: unknown[], signal: Cancellation | undefined): Promise<Group[]> {
    signal?.throwIfAborted();
    const rows = await this.#turns.run(() => this.#all<StoredGroup>(p, params), signal);
    return rows.map((row) => fromGroupRow(row, sqliteDialect));
  }

  #run(p: Prepared, ...params: unknown[]): SQLite.RunResult {
    return runObserved(this.#observe, p, params);
  }

  #get<T>(p: Prepared, ...params: unknown[]): T | undefined {
    return getObserved<T>(this.#observe, p, params);
  }

  #all<T>(p: Prepared, params: unknown[]): T[] {
    return allObserved<T>(this.#observe, p, params);
  }
}

function translated(error: unknown): unknown {
  if (isIdempotencyKeyConflict(error)) return new IdempotencyKeyTakenError('The idempotency key was taken concurrently.', { cause: error });
  const key = violatedGroupKey(error);
  if (key === 'display_name') return new GroupNameTakenError('Another group already has this display name.', { cause: error });
  if (key === 'external_id') return new GroupExternalIdTakenError('Another group already has this external id.', { cause: error });
  // Checked inside the transaction, so only a deletion racing the statements could get here; SQLite serialises them.
  if (isForeignKeyViolation(error)) return new MembersNotFoundError([], { cause: error });
  return outageError(sqliteDialect, error);
}
