import type pg from 'pg';
import { failOnOutage, postgresDialect } from '../db/dialect.js';
import type { RawStatement, StatementObserver } from '../db/instrumentation.js';
import { inTransaction, withClient } from '../db/postgres-client.js';
import type { NewEvent } from '../events/model.js';
import { publishPoolEvents, toEventRow } from '../events/sql-outbox.js';
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

interface NamedStatement extends RawStatement {
  readonly name: string;
}

const statement = (name: string, operation: RawStatement['operation'], table: string, text: string): NamedStatement => ({
  name: `roster.groups.${name}`,
  operation,
  table,
  text,
});

const G_COLUMNS = GROUP_COLUMNS.split(', ')
  .map((c) => `g.${c}`)
  .join(', ');
/** The first page's lower bound: ids are uuid, and the nil UUID sorts before every UUIDv7. */
const BEFORE_EVERY_ID = '00000000-0000-0000-0000-000000000000';

const GET = statement('get', 'select', 'groups', `select ${GROUP_COLUMNS} from groups where id = $1`);
const LOCK = statement('lock', 'select', 'groups', `select ${GROUP_COLUMNS} from groups where id = $1 for update`);
const BY_NAME_KEY = statement('by-name-key', 'select', 'groups', `select ${GROUP_COLUMNS} from groups where display_name_key = $1`);
const BY_EXTERNAL_ID = statement('by-external-id', 'select', 'groups', `select ${GROUP_COLUMNS} from groups where external_id = $1`);
const LIST = statement('list', 'select', 'groups', `select ${GROUP_COLUMNS} from groups where id > $1 order by id limit $2`);
/** The steps of GroupStore.skip(), as users' SKIP_TO and SKIP_REST. */
const SKIP_TO = statement('skip-to', 'select', 'groups', 'select id from groups where id > $1 order by id offset $2 limit 1');
const SKIP_REST = statement(
  'skip-rest',
  'select',
  'groups',
  'select count(*)::integer as passed, max(id::text) as last from (select id from groups where id > $1 order by id limit $2) walked',
);
const SEARCH = [false, true].map((inclusive) =>
  [false, true].map((below) =>
    statement(
      `search${inclusive ? '-from' : '-after'}${below ? '' : '-open'}`,
      'select',
      'groups',
      `select ${GROUP_COLUMNS} from groups where display_name_key ${inclusive ? '>=' : '>'} $1${below ? ' and display_name_key < $2' : ''}` +
        ` order by display_name_key limit ${below ? '$3' : '$2'}`,
    ),
  ),
);
const INSERT = statement(
  'insert',
  'insert',
  'groups',
  `insert into groups (id, display_name, display_name_key, external_id, attributes, member_count, version, created_at, updated_at)
   values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)`,
);
const UPDATE = statement(
  'update',
  'update',
  'groups',
  `update groups set display_name = $2, display_name_key = $3, external_id = $4, attributes = $5::jsonb, member_count = $6,
   version = $7, updated_at = $8 where id = $1`,
);
const DELETE = statement('delete', 'delete', 'groups', 'delete from groups where id = $1');
/**
 * The users to add, each locked FOR KEY SHARE: a concurrent deletion of one of them waits for
 * this transaction (or this one finds it gone). Users are locked before the group, in every
 * transaction that takes both (a user's deletion locks the user, then its groups), so the two
 * never wait on each other in a cycle.
 */
const LOCK_USERS = statement('lock-users', 'select', 'users', 'select id from users where id = any($1::uuid[]) for key share');
const ADD = statement(
  'add-members',
  'insert',
  'group_members',
  `insert into group_members (group_id, user_id, added_at) select $1, u, $3 from unnest($2::uuid[]) as u
   on conflict do nothing returning user_id`,
);
const REMOVE = statement(
  'remove-members',
  'delete',
  'group_members',
  'delete from group_members where group_id = $1 and user_id = any($2::uuid[]) returning user_id',
);
const REMOVE_OTHERS = statement(
  'remove-other-members',
  'delete',
  'group_members',
  'delete from group_members where group_id = $1 and not (user_id = any($2::uuid[])) returning user_id',
);
const MEMBERS = statement(
  'members',
  'select',
  'group_members',
  `select u.id, u.email, u.name, m.added_at from group_members m join users u on u.id = m.user_id
   where m.group_id = $1 and m.user_id > $2 order by m.user_id limit $3`,
);
const GROUPS_OF = statement(
  'groups-of',
  'select',
  'group_members',
  `select ${G_COLUMNS} from group_members m join groups g on g.id = m.group_id
   where m.user_id = $1 and m.group_id > $2 order by m.group_id limit $3`,
);
const USER_EXISTS = statement('user-exists', 'select', 'users', 'select 1 from users where id = $1');
const GROUP_IDS_OF_USER = statement(
  'group-ids-of-user',
  'select',
  'group_members',
  'select group_id from group_members where user_id = $1',
);
const LOCK_GROUPS = statement('lock-groups', 'select', 'groups', 'select id from groups where id = any($1::uuid[]) order by id for update');
const USER_LEAVES = statement(
  'user-leaves',
  'delete',
  'group_members',
  `with gone as (delete from group_members where user_id = $1 returning group_id)
   update groups g set member_count = g.member_count - 1, version = g.version + 1, updated_at = $2
   from gone where g.id = gone.group_id returning g.id, g.version`,
);
const FIND_IDEMPOTENCY = statement(
  'find-idempotency',
  'select',
  'idempotency_keys',
  'select fingerprint, result, expires_at from idempotency_keys where scope = $1 and key = $2 and expires_at > $3',
);
/**
 * The key goes in first, as users' CREATE_REMEMBERED: a concurrent request with the same key waits
 * on it and then finds it taken (no row back), and replays. An expired record is replaced.
 */
const REMEMBER = statement(
  'remember',
  'insert',
  'idempotency_keys',
  `insert into idempotency_keys as k (scope, key, fingerprint, result, created_at, expires_at)
   values ($1, $2, $3, $4::jsonb, $5, $6)
   on conflict (scope, key) do update set fingerprint = excluded.fingerprint, result = excluded.result,
     created_at = excluded.created_at, expires_at = excluded.expires_at where k.expires_at <= excluded.created_at
   returning 1`,
);
/** Any number of events in one statement, inserted in the order given: unnumbered, numbered after the commit (events/sql-sequencer.ts). */
const INSERT_EVENTS = statement(
  'insert-events',
  'insert',
  'events',
  `insert into events (id, type, occurred_at, actor, request_id, subject_id, data)
   select id, type, occurred_at, actor, request_id, subject_id, data
   from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::uuid[], $7::jsonb[]) with ordinality
     as e(id, type, occurred_at, actor, request_id, subject_id, data, n)
   order by n`,
);

/**
 * The GroupStore adapter for PostgreSQL, on the pg pool with named statements. Every change is
 * BEGIN, the users to add locked FOR KEY SHARE, the group locked FOR UPDATE (so concurrent
 * changes of one group run one after another and none is lost), set-based member statements,
 * the row and the events last, COMMIT; then a wait for the numbering pass that puts the events
 * in the feed (events/sql-sequencer.ts), so a change answers once its events are readable.
 */
export class PostgresGroupStore implements GroupStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly observe: StatementObserver,
    private readonly onEventsCommitted: () => void = () => undefined,
  ) {}

  async create(
    group: Group,
    memberIds: readonly UserId[],
    events: readonly NewEvent[],
    idempotency: GroupIdempotency | undefined,
    signal?: Cancellation,
  ): Promise<void> {
    await this.#write(() =>
      inTransaction(this.pool, signal, async (client) => {
        if (idempotency !== undefined) {
          const { scope, key, fingerprint, expiresAt } = idempotency;
          const values = [scope, key, fingerprint, toGroupSnapshot(idempotency.group), group.createdAt, expiresAt];
          if ((await this.#run(client, REMEMBER, values)).rowCount === 0) {
            throw new IdempotencyKeyTakenError('The idempotency key was taken concurrently.');
          }
        }
        await this.#requireUsers(client, memberIds);
        await this.#run(client, INSERT, groupValues(group, postgresDialect));
        if (memberIds.length > 0) await this.#run(client, ADD, [group.id, memberIds, group.createdAt]);
        await this.#appendEvents(client, events);
      }),
    );
    await this.#published();
  }

  async findIdempotency(scope: string, key: string, now: Date, signal?: Cancellation): Promise<GroupIdempotency | undefined> {
    type Row = { fingerprint: string; result: unknown; expires_at: Date };
    const { rows } = await this.#read(signal, (client) => this.#run(client, FIND_IDEMPOTENCY, [scope, key, now]));
    const row = rows[0] as Row | undefined;
    if (row === undefined) return undefined;
    const { fingerprint, result, expires_at } = row;
    return { scope, key, fingerprint, group: fromGroupSnapshot(result), expiresAt: expires_at };
  }

  async get(id: GroupId, signal?: Cancellation): Promise<Group | undefined> {
    return (await this.#groups(signal, GET, [id]))[0];
  }

  async findByNameKey(key: string, signal?: Cancellation): Promise<Group | undefined> {
    return (await this.#groups(signal, BY_NAME_KEY, [key]))[0];
  }

  async findByExternalId(externalId: string, signal?: Cancellation): Promise<Group | undefined> {
    return (await this.#groups(signal, BY_EXTERNAL_ID, [externalId]))[0];
  }

  async list(afterId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[]> {
    return this.#groups(signal, LIST, [afterId ?? BEFORE_EVERY_ID, limit]);
  }

  async skip(afterId: GroupId | undefined, n: number, signal?: Cancellation): Promise<{ passed: number; last: GroupId | undefined }> {
    const from = afterId ?? BEFORE_EVERY_ID;
    const nth = (await this.#read(signal, (client) => this.#run(client, SKIP_TO, [from, n - 1]))).rows[0] as { id: GroupId } | undefined;
    if (nth !== undefined) return { passed: n, last: nth.id };
    const { rows } = await this.#read(signal, (client) => this.#run(client, SKIP_REST, [from, n]));
    const rest = rows[0] as { passed: number; last: GroupId | null };
    return { passed: rest.passed, last: rest.last ?? undefined };
  }

  async search(range: NameKeyRange, limit: number, signal?: Cancellation): Promise<Group[]> {
    const s = SEARCH[range.inclusive ? 1 : 0]![range.below === undefined ? 0 : 1]!;
    return this.#groups(signal, s, range.below === undefined ? [range.from, limit] : [range.from, range.below, limit]);
  }

  async change(
    id: GroupId,
    members: MembersChange,
    edit: (current: Group) => Group,
    finish: (before: Group, edited: Group, outcome: MembersOutcome) => GroupWrite | undefined,
    signal?: Cancellation,
  ): Promise<{ group: Group; outcome: MembersOutcome }> {
    const result = await this.#write(() =>
      inTransaction(this.pool, signal, async (client) => {
        const toAdd = members.replace ?? members.add ?? [];
        await this.#requireUsers(client, toAdd, id);
        const row = (await this.#run(client, LOCK, [id])).rows[0] as StoredGroup | undefined;
        if (row === undefined) throw new GroupNotFoundError(`No group has id ${id}.`);
        const before = fromGroupRow(row, postgresDialect);
        const edited = edit(before);
        let removed: UserId[] = [];
        if (members.replace !== undefined) removed = await this.#ids(client, REMOVE_OTHERS, [id, members.replace]);
        else if (members.remove !== undefined && members.remove.length > 0)
          removed = inOrder(members.remove, await this.#ids(client, REMOVE, [id, members.remove]));
        const added = toAdd.length === 0 ? [] : inOrder(toAdd, await this.#ids(client, ADD, [id, toAdd, new Date()]));
        const outcome = { added, removed, memberCount: before.memberCount + added.length - removed.length };
        const write = finish(before, edited, outcome);
        if (write === undefined) return { group: before, outcome, wrote: false };
        await this.#run(
          client,
          UPDATE,
          groupValues(write.group, postgresDialect).filter((_, i) => i !== 7),
        );
        await this.#appendEvents(client, write.events);
        return { group: write.group, outcome, wrote: true };
      }),
    );
    if (result.wrote) await this.#published();
    return { group: result.group, outcome: result.outcome };
  }

  async delete(id: GroupId, check: (current: Group) => void, describe: (deleted: Group) => NewEvent, signal?: Cancellation): Promise<void> {
    await this.#write(() =>
      inTransaction(this.pool, signal, async (client) => {
        const row = (await this.#run(client, LOCK, [id])).rows[0] as StoredGroup | undefined;
        if (row === undefined) throw new GroupNotFoundError(`No group has id ${id}.`);
        const current = fromGroupRow(row, postgresDialect);
        check(current);
        await this.#run(client, DELETE, [id]);
        await this.#appendEvents(client, [describe(current)]);
      }),
    );
    await this.#published();
  }

  async members(id: GroupId, afterUserId: UserId | undefined, limit: number, signal?: Cancellation): Promise<Member[] | undefined> {
    return this.#read(signal, async (client) => {
      const { rows } = await this.#run(client, MEMBERS, [id, afterUserId ?? BEFORE_EVERY_ID, limit]);
      if (rows.length === 0 && (await this.#run(client, GET, [id])).rows.length === 0) return undefined;
      return (rows as StoredMember[]).map((row) => fromMemberRow(row, postgresDialect));
    });
  }

  async groupsOf(userId: UserId, afterGroupId: GroupId | undefined, limit: number, signal?: Cancellation): Promise<Group[] | undefined> {
    return this.#read(signal, async (client) => {
      const { rows } = await this.#run(client, GROUPS_OF, [userId, afterGroupId ?? BEFORE_EVERY_ID, limit]);
      if (rows.length === 0 && (await this.#run(client, USER_EXISTS, [userId])).rows.length === 0) return undefined;
      return (rows as StoredGroup[]).map((row) => fromGroupRow(row, postgresDialect));
    });
  }

  /**
   * The hook the users store runs inside a user's deletion, after it locked the user
   * (compose/users.ts): the user's groups locked in id order, its memberships removed, each group
   * one version more, a group.members_removed event per group.
   */
  removeUserEverywhere(newId: () => string): (client: pg.PoolClient, userId: UserId, deleted: NewEvent) => Promise<void> {
    return async (client, userId, deleted) => {
      const groupIds = (await this.#run(client, GROUP_IDS_OF_USER, [userId])).rows.map((r: { group_id: string }) => r.group_id);
      if (groupIds.length === 0) return;
      await this.#run(client, LOCK_GROUPS, [groupIds]);
      const { rows } = await this.#run(client, USER_LEAVES, [userId, deleted.occurredAt]);
      const ctx = { actor: deleted.actor ?? undefined, requestId: deleted.requestId ?? undefined };
      const events = (rows as { id: string; version: number }[])
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .flatMap((g) => membershipEvents(newId, 'group.members_removed', g, [userId], ctx, deleted.occurredAt, 'user_deleted'));
      await this.#appendEvents(client, events);
    };
  }

  /** Locks the users FOR KEY SHARE; any missing fails the batch (a missing group first, when `groupId` is given, for a 404 over a 422). */
  async #requireUsers(client: pg.PoolClient, userIds: readonly UserId[], groupId?: GroupId): Promise<void> {
    if (userIds.length === 0) return;
    const found = new Set((await this.#run(client, LOCK_USERS, [userIds])).rows.map((r: { id: string }) => r.id));
    if (found.size === userIds.length) return;
    if (groupId !== undefined && (await this.#run(client, GET, [groupId])).rows.length === 0) {
      throw new GroupNotFoundError(`No group has id ${groupId}.`);
    }
    throw new MembersNotFoundError(userIds.filter((id) => !found.has(id)));
  }

  async #appendEvents(client: pg.PoolClient, events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map((e) => toEventRow(e, postgresDialect));
    await this.#run(client, INSERT_EVENTS, [
      rows.map((r) => r.id),
      rows.map((r) => r.type),
      rows.map((r) => r.occurred_at),
      rows.map((r) => r.actor),
      rows.map((r) => r.request_id),
      rows.map((r) => r.subject_id),
      rows.map((r) => r.data),
    ]);
  }

  /** After a commit that wrote events: a failed numbering pass does not fail the committed change (a later pass numbers them). */
  async #published(): Promise<void> {
    await publishPoolEvents(this.pool);
    this.onEventsCommitted();
  }

  async #ids(client: pg.PoolClient, s: NamedStatement, values: unknown[]): Promise<UserId[]> {
    return (await this.#run(client, s, values)).rows.map((r: { user_id: UserId }) => r.user_id);
  }

  async #groups(signal: Cancellation | undefined, s: NamedStatement, values: unknown[]): Promise<Group[]> {
    return this.#read(signal, async (client) =>
      ((await this.#run(client, s, values)).rows as StoredGroup[]).map((r) => fromGroupRow(r, postgresDialect)),
    );
  }

  async #run(client: pg.PoolClient, s: NamedStatement, values: unknown[]): Promise<pg.QueryResult> {
    const startedAt = performance.now();
    try {
      const result = await client.query({ name: s.name, text: s.text, values });
      this.observe(s, startedAt);
      return result;
    } catch (error) {
      this.observe(s, startedAt, error);
      throw error;
    }
  }

  /** A read: once more on a fresh connection when the first died under it. */
  #read<T>(signal: Cancellation | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return failOnOutage(postgresDialect, () => withClient(this.pool, signal, work), { retryLostConnection: true, signal });
  }

  /** A write: never retried; unique and foreign key violations as the domain's errors. */
  async #write<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await failOnOutage(postgresDialect, work);
    } catch (error) {
      if (isIdempotencyKeyConflict(error))
        throw new IdempotencyKeyTakenError('The idempotency key was taken concurrently.', { cause: error });
      const key = violatedGroupKey(error);
      if (key === 'display_name') throw new GroupNameTakenError('Another group already has this display name.', { cause: error });
      if (key === 'external_id') throw new GroupExternalIdTakenError('Another group already has this external id.', { cause: error });
      if (isForeignKeyViolation(error)) throw new MembersNotFoundError([], { cause: error });
      throw error;
    }
  }
}

/** `subset` in the order of `given` (what a statement returned comes back in no particular order). */
function inOrder(given: readonly UserId[], subset: readonly UserId[]): UserId[] {
  const hit = new Set(subset);
  return given.filter((id) => hit.has(id));
}
