import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import { SQLITE_LIMIT } from '../db/sqlite-steps.js';
import type { Schema } from '../db/schema.js';
import { toStoredEvent, type EventRow, type EventType, type StoredEvent } from '../events/model.js';
import { appendEvent, publishEvents } from '../events/sql-outbox.js';
import type { DeliveryStore, PendingReplay, Settlement } from './delivery-store.js';
import type { WebhookEndpoint } from './model.js';
import type { DeliveryAttempt } from './service.js';
import { sqlBool, toAttemptRow, toEndpoint } from './sql-rows.js';
import { GroupCommit } from '../kit/group-commit.js';

/** The DeliveryStore adapter (the dispatcher's claims, settlements and releases) for SQLite and PostgreSQL. */
export class SqlDeliveryStore implements DeliveryStore {
  // Parameter properties: every SQL adapter takes the same two, and spelling them out was the
  // same six lines in each.
  /** The idle poll's read, written once: a poll that finds nothing builds no query and allocates little. */
  readonly #candidates: string;
  /** The stream settlement's update (see #settleStream()). */
  readonly #settleUpdate: string;
  readonly #attemptInserts = new Map<number, string>();
  /** PostgreSQL: a group of stream settlements in one statement (settlementsText()). */
  readonly #settlementsText: string;
  /** Decoded events by sequence, oldest first (see eventsAfter()). */
  readonly #decoded = new Map<number, StoredEvent>();
  readonly #dueSequences: string;
  /** eventsAfter() reads in flight, by their arguments (at most one per worker reading at once). */
  readonly #reading = new Map<string, Promise<StoredEvent[]>>();
  /** Stream settlements waiting to be written together (see #writeStreams()). */
  readonly #streams: GroupCommit<StreamSettlement, boolean>;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {
    this.#candidates = candidatesText(dialect);
    this.#settleUpdate = settleUpdateText(dialect);
    this.#settlementsText = settlementsText();
    const p = placeholders(dialect);
    const limit = dialect.name === 'postgres' ? `limit ${p(3)}` : SQLITE_LIMIT;
    this.#dueSequences = `select seq from events where seq > ${p(1)} and seq <= ${p(2)} order by seq ${limit}`;
    this.#streams = new GroupCommit({ write: (group) => this.#writeStreams(group), maxGroup: SETTLEMENTS_PER_TRANSACTION });
  }

  async claim(owner: string, now: Date, leaseUntil: Date, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    signal?.throwIfAborted();
    const at = this.dialect.toTime(now);
    const due = (alias: 'e') =>
      this.db
        .selectFrom(`webhook_endpoints as ${alias}`)
        .select('e.id')
        .where('e.enabled', '=', sqlBool(this.dialect, true))
        .where('e.next_attempt_at', '<=', at)
        .where((eb) => eb.or([eb('e.lease_until', 'is', null), eb('e.lease_until', '<', at)]))
        .where(hasWorkDue(at))
        .orderBy('e.next_attempt_at')
        .limit(limit);
    return failOnOutage(this.dialect, async () => {
      // A read first: an idle poll takes no write lock (SQLite) and locks no row (PostgreSQL).
      const enabled = sqlBool(this.dialect, true);
      const params = this.dialect.name === 'postgres' ? [enabled, at, limit] : [enabled, at, at, at, limit];
      const candidates = await this.db.executeQuery(CompiledQuery.raw(this.#candidates, params));
      if (candidates.rows.length === 0) return [];
      // The claiming statement re-checks every condition. PostgreSQL: rows another dispatcher is
      // claiming right now are skipped, not waited for; a row whose lease was just taken fails
      // the re-check. SQLite: one writer at a time makes the update atomic.
      const chosen = this.dialect.name === 'postgres' ? due('e').forUpdate().skipLocked() : due('e');
      const rows = await this.db
        .updateTable('webhook_endpoints')
        .set({ lease_owner: owner, lease_until: this.dialect.toTime(leaseUntil) })
        .where('id', 'in', chosen)
        .returningAll()
        .execute();
      return rows.map((row) => toEndpoint(row, this.dialect));
    });
  }

  async countDue(now: Date): Promise<number> {
    const at = this.dialect.toTime(now);
    const row = await failOnOutage(this.dialect, () =>
      this.db
        .selectFrom('webhook_endpoints as e')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('e.enabled', '=', sqlBool(this.dialect, true))
        .where('e.next_attempt_at', '<=', at)
        .where(hasWorkDue(at))
        .executeTakeFirstOrThrow(),
    );
    return Number(row.n);
  }

  async maxSequence(signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    return failOnOutage(this.dialect, () => maxSequenceIn(this.db));
  }

  /**
   * The same read asked for again while it is in flight (endpoints at the same cursor, reading up
   * to the same newest sequence, as workers sharing that read are) is answered by the read in
   * flight: what lies up to `upTo` is final, so both would get the same events. Otherwise in two
   * steps, so that the endpoints fanning out one event share its decoding: the sequences due (an
   * index-only read), then the rows of those not already decoded by this store (a bounded cache:
   * events never change once numbered). With 8 endpoints, 7 of 8 reads skip the rows.
   */
  eventsAfter(
    after: number,
    upTo: number,
    types: readonly EventType[] | null,
    limit: number,
    signal?: AbortSignal,
  ): Promise<StoredEvent[]> {
    signal?.throwIfAborted();
    const key = `${after} ${upTo} ${limit} ${types === null ? '*' : types.join(',')}`;
    const inFlight = this.#reading.get(key);
    if (inFlight !== undefined) return inFlight;
    const read = this.#readEventsAfter(after, upTo, types, limit);
    this.#reading.set(key, read);
    const forget = () => this.#reading.delete(key);
    read.then(forget, forget);
    return read;
  }

  async #readEventsAfter(after: number, upTo: number, types: readonly EventType[] | null, limit: number): Promise<StoredEvent[]> {
    const seqRows = await failOnOutage(this.dialect, () => {
      if (types === null)
        return this.db.executeQuery<{ seq: number | string }>(CompiledQuery.raw(this.#dueSequences, [after, upTo, limit]));
      return this.db
        .selectFrom('events')
        .select('seq')
        .where('seq', '>', after)
        .where('seq', '<=', upTo)
        .where('type', 'in', [...types])
        .orderBy('seq')
        .limit(limit)
        .execute()
        .then((rows) => ({ rows }));
    });
    const sequences = seqRows.rows.map((row) => Number(row.seq));
    // Collected here, not read back from the cache, which may evict some of them while filling.
    const found = new Map<number, StoredEvent>();
    const missing: number[] = [];
    for (const seq of sequences) {
      const event = this.#decoded.get(seq);
      if (event === undefined) missing.push(seq);
      else found.set(seq, event);
    }
    if (missing.length > 0) {
      const rows = await failOnOutage(this.dialect, () => this.db.selectFrom('events').selectAll().where('seq', 'in', missing).execute());
      for (const row of rows) {
        const event = toStoredEvent(row, this.dialect);
        found.set(event.sequence, event);
        if (this.#decoded.size >= DECODED_KEPT) this.#decoded.delete(this.#decoded.keys().next().value!);
        this.#decoded.set(event.sequence, event);
      }
    }
    // A row pruned between the two reads is left out, as if read after the prune.
    return sequences.flatMap((seq) => found.get(seq) ?? []);
  }

  async dueReplays(endpointId: string, now: Date, limit: number, signal?: AbortSignal): Promise<PendingReplay[]> {
    signal?.throwIfAborted();
    const rows = await failOnOutage(this.dialect, () =>
      this.db
        .selectFrom('webhook_replays as r')
        .leftJoin('events as ev', 'ev.seq', 'r.event_seq')
        .selectAll('ev')
        .select(['r.event_seq', 'r.attempt', 'r.generation', 'r.first_attempt_at', 'r.replay'])
        .where('r.endpoint_id', '=', endpointId)
        .where('r.next_attempt_at', '<=', this.dialect.toTime(now))
        .orderBy('r.event_seq')
        .limit(limit)
        .execute(),
    );
    return rows.map((row) => ({
      sequence: Number(row.event_seq),
      attempt: row.attempt,
      generation: row.generation,
      firstAttemptAt: row.first_attempt_at === null ? null : this.dialect.fromTime(row.first_attempt_at),
      replay: Boolean(row.replay),
      event: row.id === null ? undefined : toStoredEvent({ ...row, seq: row.event_seq } as EventRow, this.dialect),
    }));
  }

  async settle(owner: string, endpointId: string, settlement: Settlement, leaseUntil: Date): Promise<boolean> {
    const state = settlement.endpoint;
    if (
      state?.cursor !== undefined &&
      state.attempt !== undefined &&
      state.failingSince !== undefined &&
      state.nextAttemptAt === undefined &&
      settlement.disable === undefined &&
      settlement.replayDone === undefined &&
      settlement.replayScheduled === undefined
    )
      return this.#settleStream(
        owner,
        endpointId,
        { cursor: state.cursor, attempt: state.attempt, failingSince: state.failingSince },
        settlement.attempts ?? [],
        leaseUntil,
        settlement.skipFlushWait === true,
      );
    const t = (date: Date) => this.dialect.toTime(date);
    // Never with `disable`: it appends an event, and a reader may see an event only once it is durable.
    const skipFlushWait = this.dialect.name === 'postgres' && settlement.skipFlushWait === true && settlement.disable === undefined;
    return failOnOutage(this.dialect, async () => {
      try {
        await this.db.transaction().execute(async (trx) => {
          const state = settlement.endpoint ?? {};
          const disable = settlement.disable;
          const updated = await trx
            .updateTable('webhook_endpoints')
            .set({
              ...(state.cursor !== undefined ? { cursor: state.cursor } : {}),
              ...(state.attempt !== undefined ? { attempt: state.attempt } : {}),
              ...(state.failingSince !== undefined ? { failing_since: state.failingSince === null ? null : t(state.failingSince) } : {}),
              ...(state.nextAttemptAt !== undefined ? { next_attempt_at: t(state.nextAttemptAt) } : {}),
              ...(disable
                ? {
                    enabled: sqlBool(this.dialect, false),
                    disabled_at: t(disable.at),
                    disabled_reason: disable.reason,
                    updated_at: t(disable.at),
                    lease_owner: null,
                    lease_until: null,
                  }
                : { lease_until: t(leaseUntil) }),
            })
            .where('id', '=', endpointId)
            .where('lease_owner', '=', owner)
            // The transaction's first statement: the setting holds for the rest of it.
            .$if(skipFlushWait, (qb) => qb.where(sql.raw<boolean>(flushWaitSkipped('true'))))
            .executeTakeFirst();
          if (Number(updated.numUpdatedRows) === 0) throw new LeaseLost();
          const attempts = settlement.attempts ?? [];
          if (attempts.length > 0)
            await trx
              .insertInto('webhook_attempts')
              .values(attempts.map((a) => toAttemptRow(a, this.dialect)))
              .execute();
          if (settlement.replayDone !== undefined) {
            await trx
              .deleteFrom('webhook_replays')
              .where('endpoint_id', '=', endpointId)
              .where('event_seq', '=', settlement.replayDone.sequence)
              .where('generation', '=', settlement.replayDone.generation)
              .execute();
          }
          const scheduled = settlement.replayScheduled;
          if (scheduled) {
            const values = {
              next_attempt_at: t(scheduled.nextAttemptAt),
              attempt: scheduled.attempt,
              first_attempt_at: scheduled.firstAttemptAt === null ? null : t(scheduled.firstAttemptAt),
              replay: sqlBool(this.dialect, scheduled.replay),
            };
            await trx
              .insertInto('webhook_replays')
              .values({ endpoint_id: endpointId, event_seq: scheduled.sequence, ...values })
              .onConflict((oc) => {
                const update = oc.columns(['endpoint_id', 'event_seq']).doUpdateSet(values);
                return scheduled.generation === undefined ? update : update.where('webhook_replays.generation', '=', scheduled.generation);
              })
              .execute();
          }
          if (disable) await appendEvent(trx, this.dialect, disable.event);
        });
        if (settlement.disable) await publishEvents(this.db, this.dialect);
        return true;
      } catch (error) {
        if (error instanceof LeaseLost) return false;
        throw error;
      }
    });
  }

  /**
   * The settlement of a stream at full rate (the log rows of a group of deliveries and where the
   * stream stands), in statements written once per group size, not built by Kysely per call: at
   * full rate the query building was most of the settlements' cost. Settlements of several
   * endpoints that come together share one transaction (see #writeStreams()).
   */
  #settleStream(
    owner: string,
    endpointId: string,
    state: { cursor: number; attempt: number; failingSince: Date | null },
    attempts: readonly DeliveryAttempt[],
    leaseUntil: Date,
    skipFlushWait: boolean,
  ): Promise<boolean> {
    const d = this.dialect;
    const update = [
      state.cursor,
      state.attempt,
      state.failingSince === null ? null : d.toTime(state.failingSince),
      d.toTime(leaseUntil),
      endpointId,
      owner,
    ];
    return this.#streams.submit({ update, attempts, skipFlushWait });
  }

  /**
   * Stream settlements of several endpoints in one transaction: each endpoint's update is guarded
   * by its own lease, and only the endpoints whose lease held get their log rows; the answer says,
   * per settlement, whether its lease held. A failure rolls back every one of them.
   */
  async #writeStreams(group: readonly StreamSettlement[]): Promise<boolean[]> {
    const d = this.dialect;
    if (d.name === 'postgres' && distinctEndpoints(group)) return this.#writeStreamsAtOnce(group);
    return failOnOutage(d, () =>
      this.db.transaction().execute(async (trx) => {
        const held: boolean[] = [];
        const rows: DeliveryAttempt[] = [];
        // PostgreSQL's update text takes one more parameter (settleUpdateText()); the first update sets it for the transaction.
        const extra = d.name === 'postgres' ? [group.every((settlement) => settlement.skipFlushWait)] : [];
        for (const settlement of group) {
          const updated = await trx.executeQuery(CompiledQuery.raw(this.#settleUpdate, [...settlement.update, ...extra]));
          const ok = Number(updated.numAffectedRows ?? 0) > 0;
          held.push(ok);
          if (ok) rows.push(...settlement.attempts);
        }
        for (let from = 0; from < rows.length; from += ATTEMPTS_PER_INSERT) {
          const chunk = rows.slice(from, from + ATTEMPTS_PER_INSERT);
          await trx.executeQuery(CompiledQuery.raw(this.#insertAttempts(chunk.length), attemptValues(chunk, d)));
        }
        return held;
      }),
    );
  }

  /**
   * PostgreSQL: the same in one statement, one round trip (settlementsText()), where the
   * transaction took 3 + one per endpoint (BEGIN, an update each, the log rows' insert, COMMIT).
   * One statement is atomic by itself. The rows travel as one array per column, so the text is
   * the same whatever the group's size: PostgreSQL parses a short text instead of 13 placeholders
   * per row, which halved the server's CPU per log row (bench/RESULTS.md, issue 16 fifth pass).
   */
  async #writeStreamsAtOnce(group: readonly StreamSettlement[]): Promise<boolean[]> {
    const d = this.dialect;
    const columns: unknown[][] = Array.from({ length: SETTLEMENT_COLUMNS + 1 + ATTEMPT_COLUMNS.length }, () => []);
    group.forEach((settlement, index) => {
      // update's order (settleUpdateText()): cursor, attempt, failing_since, lease_until, id, owner.
      const [cursor, attempt, failingSince, leaseUntil, id, owner] = settlement.update;
      columns[0]!.push(index);
      columns[1]!.push(id);
      columns[2]!.push(owner);
      columns[3]!.push(cursor);
      columns[4]!.push(attempt);
      columns[5]!.push(failingSince);
      columns[6]!.push(leaseUntil);
      for (let a = 0; a < settlement.attempts.length; a++) columns[SETTLEMENT_COLUMNS]!.push(index);
      const values = attemptValues(settlement.attempts, d);
      for (let v = 0; v < values.length; v++) columns[SETTLEMENT_COLUMNS + 1 + (v % ATTEMPT_COLUMNS.length)]!.push(values[v]);
    });
    // The group's commit waits for its flush unless every settlement in it may skip the wait.
    const params = [...columns, group.every((settlement) => settlement.skipFlushWait)];
    const result = await failOnOutage(d, () => this.db.executeQuery<{ n: number }>(CompiledQuery.raw(this.#settlementsText, params)));
    const held = group.map(() => false);
    for (const row of result.rows) held[Number(row.n)] = true;
    return held;
  }

  /** The multi-row insert of `rows` log rows, by row count (at most the dispatcher's group size, 100 by default). */
  #insertAttempts(rows: number): string {
    let text = this.#attemptInserts.get(rows);
    if (text === undefined) {
      text = insertAttemptsText(this.dialect, rows);
      if (this.#attemptInserts.size >= 256) this.#attemptInserts.clear();
      this.#attemptInserts.set(rows, text);
    }
    return text;
  }

  async release(owner: string, endpointId: string, nextAttemptAt?: Date): Promise<void> {
    await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('webhook_endpoints')
        .set({
          lease_owner: null,
          lease_until: null,
          ...(nextAttemptAt ? { next_attempt_at: this.dialect.toTime(nextAttemptAt) } : {}),
        })
        .where('id', '=', endpointId)
        .where('lease_owner', '=', owner)
        // A release a crash forgets only leaves the lease to expire: no need to wait for the flush.
        .$if(this.dialect.name === 'postgres', (qb) => qb.where(sql.raw<boolean>(flushWaitSkipped('true'))))
        .execute(),
    );
  }

  async releaseAll(owner: string): Promise<number> {
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .updateTable('webhook_endpoints')
        .set({ lease_owner: null, lease_until: null })
        .where('lease_owner', '=', owner)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }
}

/**
 * The claim's `due` read as text: the same conditions as `due` in claim() and hasWorkDue(),
 * which the claiming statement re-checks anyway. Parameters: enabled, now, limit on PostgreSQL
 * ($2 used thrice); enabled, now, now, now, limit on SQLite (plain `?`, one value each; the limit as SQLITE_LIMIT).
 */
function candidatesText(dialect: SqlDialect): string {
  const [enabled, at, limit] = dialect.name === 'postgres' ? ['$1', '$2', 'limit $3'] : ['?', '?', SQLITE_LIMIT];
  return (
    `select e.id from webhook_endpoints as e where e.enabled = ${enabled} and e.next_attempt_at <= ${at}` +
    ` and (e.lease_until is null or e.lease_until < ${at})` +
    ` and (e."cursor" < (select coalesce(max(seq), 0) from events)` +
    ` or exists (select 1 from webhook_replays r where r.endpoint_id = e.id and r.next_attempt_at <= ${at}))` +
    ` order by e.next_attempt_at ${limit}`
  );
}

/** A stream settlement as #writeStreams() takes it: the update's parameters (settleUpdateText()) and the log rows. */
interface StreamSettlement {
  readonly update: unknown[];
  readonly attempts: readonly DeliveryAttempt[];
  /** Settlement.skipFlushWait. */
  readonly skipFlushWait: boolean;
}

/** Endpoints' stream settlements written in one transaction at most (a dispatcher has 16 workers by default). */
const SETTLEMENTS_PER_TRANSACTION = 16;
/** Log rows per insert statement at most: 13 parameters each, well under SQLite's and PostgreSQL's limits. */
const ATTEMPTS_PER_INSERT = 100;

/** The parameters of insertAttemptsText() for `attempts`. */
function attemptValues(attempts: readonly DeliveryAttempt[], d: SqlDialect): unknown[] {
  const values: unknown[] = [];
  for (const a of attempts) {
    values.push(
      a.id,
      a.endpointId,
      a.eventId,
      a.eventSequence,
      a.attempt,
      d.toTime(a.attemptedAt),
      a.outcome,
      a.status,
      a.latencyMs,
      a.errorCode,
      a.errorMessage,
      a.responseBody,
      sqlBool(d, a.replay),
    );
  }
  return values;
}

/** Decoded events kept: several batches of 100 for every endpoint reading at once. */
const DECODED_KEPT = 4_096;

const ATTEMPT_COLUMNS = [
  'id',
  'endpoint_id',
  'event_id',
  'event_seq',
  'attempt',
  'attempted_at',
  'outcome',
  'status',
  'latency_ms',
  'error_code',
  'error_message',
  'response_body',
  'replay',
] as const;

/** Parameters: cursor, attempt, failing_since, lease_until, id, lease_owner; on PostgreSQL also skip the flush wait (boolean). */
function settleUpdateText(dialect: SqlDialect): string {
  const p = placeholders(dialect);
  return (
    `update webhook_endpoints set "cursor" = ${p(1)}, attempt = ${p(2)}, failing_since = ${p(3)}, lease_until = ${p(4)}` +
    ` where id = ${p(5)} and lease_owner = ${p(6)}` +
    (dialect.name === 'postgres' ? ` and ${flushWaitSkipped('$7::boolean')}` : '')
  );
}

/**
 * PostgreSQL: a condition, always true, that sets synchronous_commit to off for the statement's
 * transaction alone when `skip` (an SQL boolean) is true, and leaves it as it is otherwise.
 * set_config(…, true) is SET LOCAL; an autocommit statement is its own transaction, and the
 * setting is read when it commits. An uncorrelated subquery, so the planner evaluates it once per
 * statement, before any row is read (a one-time filter), whether or not a row matches.
 *
 * Why the dispatcher's bookkeeping may skip the flush (docs/operations.md, "Database outages"):
 * every commit waits for its WAL flush otherwise, queued behind the writers' (the benchmark
 * machine's disk: ~860 flushes a second), and a worker waits for its settlement before it sends
 * on (bench/RESULTS.md, issue 16 seventh pass: settlements and releases half as long). A
 * commit that skips it is visible at once and on disk within 3 × wal_writer_delay; a server
 * crash before that forgets it and every later one (WAL is replayed in order), so what survives
 * is the state at an earlier moment: a forgotten settlement or release moves an endpoint's
 * cursor back (those deliveries are sent again, same webhook-id, in order) or leaves its lease
 * to expire. Claims keep waiting: a forgotten claim would free an endpoint whose worker is still
 * sending, and a second instance claiming it could send out of order. Events, the writers' and
 * a disabling settlement's, keep waiting too.
 */
function flushWaitSkipped(skip: string): string {
  return `(select set_config('synchronous_commit', case when ${skip} then 'off' else current_setting('synchronous_commit') end, true)) is not null`;
}

/** The settlements' own columns in settlementsText(): index in the group, id, owner, cursor, attempt, failing_since, lease_until. */
const SETTLEMENT_COLUMNS = 7;
/** PostgreSQL's types of ATTEMPT_COLUMNS, in order. */
const ATTEMPT_TYPES = [
  'uuid',
  'uuid',
  'uuid',
  'bigint',
  'integer',
  'timestamptz',
  'text',
  'integer',
  'integer',
  'text',
  'text',
  'text',
  'boolean',
];

/**
 * PostgreSQL: stream settlements of distinct endpoints in one statement. $1–$7 are the
 * settlements, one array per column (SETTLEMENT_COLUMNS); then the log rows of every
 * settlement: their settlement's index, then one array per ATTEMPT_COLUMNS column. Each
 * endpoint's update is guarded by its own lease; only the log rows of settlements whose update
 * happened are inserted (the insert reads the update's RETURNING); the statement returns the
 * index of each settlement whose lease held.
 */
function settlementsText(): string {
  const settlementTypes = ['integer', 'uuid', 'text', 'bigint', 'integer', 'timestamptz', 'timestamptz'];
  const arrays = (types: readonly string[], from: number) => types.map((t, i) => `$${from + i}::${t}[]`).join(', ');
  return (
    `with s as (select * from unnest(${arrays(settlementTypes, 1)})` +
    ` as s(n, id, owner, "cursor", attempt, failing_since, lease_until)),` +
    ` u as (update webhook_endpoints e set "cursor" = s."cursor", attempt = s.attempt, failing_since = s.failing_since,` +
    ` lease_until = s.lease_until from s where e.id = s.id and e.lease_owner = s.owner returning s.n),` +
    ` i as (insert into webhook_attempts (${ATTEMPT_COLUMNS.join(', ')})` +
    ` select ${ATTEMPT_COLUMNS.map((c) => `a.${c}`).join(', ')}` +
    ` from unnest(${arrays(['integer', ...ATTEMPT_TYPES], SETTLEMENT_COLUMNS + 1)}) as a(settlement, ${ATTEMPT_COLUMNS.join(', ')})` +
    ` where a.settlement in (select n from u))` +
    // The last parameter: skip the flush wait (flushWaitSkipped()).
    ` select n from u where ${flushWaitSkipped(`$${SETTLEMENT_COLUMNS + 2 + ATTEMPT_COLUMNS.length}::boolean`)}`
  );
}

/**
 * An update joined to its values changes a row once, whichever of two values rows it took: one
 * statement can only settle a group whose endpoints are distinct. (They always are: a worker waits
 * for its settlement before it submits another.)
 */
function distinctEndpoints(group: readonly StreamSettlement[]): boolean {
  const ids = new Set(group.map((settlement) => settlement.update[4]));
  return ids.size === group.length;
}

/** The log rows' insert, toAttemptRow()'s columns in ATTEMPT_COLUMNS' order, row after row. */
function insertAttemptsText(dialect: SqlDialect, rows: number): string {
  const p = placeholders(dialect);
  const width = ATTEMPT_COLUMNS.length;
  const tuples = Array.from({ length: rows }, (_, r) => `(${ATTEMPT_COLUMNS.map((_, c) => p(r * width + c + 1)).join(', ')})`);
  return `insert into webhook_attempts (${ATTEMPT_COLUMNS.join(', ')}) values ${tuples.join(', ')}`;
}

function placeholders(dialect: SqlDialect): (n: number) => string {
  return dialect.name === 'postgres' ? (n) => `$${n}` : () => '?';
}

/** Endpoint `e` has work due at `at`: events after its cursor, or a one-off delivery due. */
function hasWorkDue(at: Date | string) {
  return sql<boolean>`(e."cursor" < (select coalesce(max(seq), 0) from events)
    or exists (select 1 from webhook_replays r where r.endpoint_id = e.id and r.next_attempt_at <= ${at}))`;
}

/** The settling transaction found the lease taken over: it is rolled back. */
class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

/** The newest event sequence, 0 when there is none. */
export async function maxSequenceIn(db: Kysely<Schema> | Transaction<Schema>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0);
}
