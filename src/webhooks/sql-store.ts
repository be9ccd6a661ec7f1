import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { Schema, WebhookAttemptsTable, WebhookEndpointsTable } from '../db/schema.js';
import type { EventType, StoredEvent } from '../events/model.js';
import { appendEvent } from '../events/sql-outbox.js';
import { toStoredEvent } from '../events/sql-store.js';
import type { DeliveryStore, PendingReplay, Settlement } from './delivery-store.js';
import type { EndpointSecret, WebhookEndpoint } from './model.js';
import type { DeliveryAttempt, EndpointPatch, ReplaySelection, WebhookStore } from './service.js';

type EndpointRow = Selectable<WebhookEndpointsTable>;

/** Rows inserted per statement when enqueueing a replay (bound parameters stay far below limits). */
const REPLAY_INSERT_BATCH = 500;

/** The WebhookStore and DeliveryStore adapter for SQLite and PostgreSQL. */
export class SqlWebhookStore implements WebhookStore, DeliveryStore {
  readonly #db: Kysely<Schema>;
  readonly #dialect: SqlDialect;

  constructor(db: Kysely<Schema>, dialect: SqlDialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  // --- endpoints -------------------------------------------------------------------------

  async createEndpoint(endpoint: Omit<WebhookEndpoint, 'cursor'>, signal?: AbortSignal): Promise<WebhookEndpoint> {
    signal?.throwIfAborted();
    return this.#outage(() =>
      this.#db.transaction().execute(async (trx) => {
        const cursor = await maxSequenceIn(trx);
        const row = this.#toRow({ ...endpoint, cursor });
        await trx.insertInto('webhook_endpoints').values(row).execute();
        return { ...endpoint, cursor };
      }),
    );
  }

  async getEndpoint(id: string, signal?: AbortSignal): Promise<WebhookEndpoint | undefined> {
    signal?.throwIfAborted();
    const row = await this.#outage(() => this.#db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst());
    return row ? this.#toEndpoint(row) : undefined;
  }

  async listEndpoints(afterId: string | undefined, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    signal?.throwIfAborted();
    let select = this.#db.selectFrom('webhook_endpoints').selectAll().orderBy('id').limit(limit);
    if (afterId !== undefined) select = select.where('id', '>', afterId);
    const rows = await this.#outage(() => select.execute());
    return rows.map((row) => this.#toEndpoint(row));
  }

  async updateEndpoint(
    id: string,
    change: (current: WebhookEndpoint) => EndpointPatch,
    signal?: AbortSignal,
  ): Promise<WebhookEndpoint | undefined> {
    signal?.throwIfAborted();
    return this.#outage(() =>
      this.#db.transaction().execute(async (trx) => {
        let select = trx.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
        if (this.#dialect.lockRowsForUpdate) select = select.forUpdate();
        const row = await select.executeTakeFirst();
        if (!row) return undefined;
        const current = this.#toEndpoint(row);
        const next = { ...current, ...change(current) };
        const { id: _id, cursor: _cursor, created_at: _created, lease_owner: _owner, lease_until: _until, ...values } = this.#toRow(next);
        await trx.updateTable('webhook_endpoints').set(values).where('id', '=', id).execute();
        return next;
      }),
    );
  }

  async deleteEndpoint(id: string, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const result = await this.#outage(() => this.#db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst());
    return Number(result.numDeletedRows) > 0;
  }

  // --- delivery log and replays ----------------------------------------------------------

  async listAttempts(endpointId: string, beforeId: string | undefined, limit: number, signal?: AbortSignal): Promise<DeliveryAttempt[]> {
    signal?.throwIfAborted();
    let select = this.#db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('endpoint_id', '=', endpointId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) select = select.where('id', '<', beforeId);
    const rows = await this.#outage(() => select.execute());
    return rows.map((row) => this.#toAttempt(row));
  }

  async findEventSequence(eventId: string, signal?: AbortSignal): Promise<number | undefined> {
    signal?.throwIfAborted();
    const row = await this.#outage(() => this.#db.selectFrom('events').select('seq').where('id', '=', eventId).executeTakeFirst());
    return row ? Number(row.seq) : undefined;
  }

  async enqueueReplay(
    endpointId: string,
    selection: ReplaySelection,
    types: readonly EventType[] | null,
    now: Date,
    max: number,
    signal?: AbortSignal,
  ): Promise<{ count: number; refused: boolean }> {
    signal?.throwIfAborted();
    return this.#outage(async () => {
      let sequences: number[];
      if ('sequences' in selection) {
        sequences = [...selection.sequences];
      } else {
        // One more than allowed is enough to know the replay is too large.
        let select = this.#db
          .selectFrom('events')
          .select('seq')
          .where('occurred_at', '>=', this.#dialect.toTime(selection.since))
          .orderBy('seq')
          .limit(max + 1);
        if (types !== null) select = select.where('type', 'in', [...types]);
        sequences = (await select.execute()).map((row) => Number(row.seq));
        if (sequences.length > max) {
          const counted = await this.#countSince(selection.since, types);
          return { count: counted, refused: true };
        }
      }
      const due = this.#dialect.toTime(now);
      await this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < sequences.length; i += REPLAY_INSERT_BATCH) {
          signal?.throwIfAborted();
          const rows = sequences.slice(i, i + REPLAY_INSERT_BATCH).map((seq) => ({
            endpoint_id: endpointId,
            event_seq: seq,
            next_attempt_at: due,
            attempt: 1,
            first_attempt_at: null,
            replay: this.#bool(true),
          }));
          // A delivery of that event already pending for the endpoint: it is replayed once, now.
          await trx
            .insertInto('webhook_replays')
            .values(rows)
            .onConflict((oc) =>
              oc
                .columns(['endpoint_id', 'event_seq'])
                .doUpdateSet({ next_attempt_at: due, replay: this.#bool(true), generation: sql<number>`webhook_replays.generation + 1` }),
            )
            .execute();
        }
      });
      return { count: sequences.length, refused: false };
    });
  }

  async #countSince(since: Date, types: readonly EventType[] | null): Promise<number> {
    let select = this.#db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('occurred_at', '>=', this.#dialect.toTime(since));
    if (types !== null) select = select.where('type', 'in', [...types]);
    const row = await select.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async pruneAttempts(before: Date, limit: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const result = await this.#outage(() =>
      this.#db
        .deleteFrom('webhook_attempts')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('webhook_attempts')
            .select('id')
            .where('attempted_at', '<', this.#dialect.toTime(before))
            .orderBy('attempted_at')
            .limit(limit),
        )
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  // --- the dispatcher's port -------------------------------------------------------------

  async claim(owner: string, now: Date, leaseUntil: Date, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    signal?.throwIfAborted();
    const at = this.#dialect.toTime(now);
    const due = (alias: 'e') =>
      this.#db
        .selectFrom(`webhook_endpoints as ${alias}`)
        .select('e.id')
        .where('e.enabled', '=', this.#bool(true))
        .where('e.next_attempt_at', '<=', at)
        .where((eb) => eb.or([eb('e.lease_until', 'is', null), eb('e.lease_until', '<', at)]))
        .where(
          sql<boolean>`(e."cursor" < (select coalesce(max(seq), 0) from events)
            or exists (select 1 from webhook_replays r where r.endpoint_id = e.id and r.next_attempt_at <= ${at}))`,
        )
        .orderBy('e.next_attempt_at')
        .limit(limit);
    return this.#outage(async () => {
      // A read first: an idle poll takes no write lock (SQLite) and locks no row (PostgreSQL).
      const candidates = await due('e').execute();
      if (candidates.length === 0) return [];
      // The claiming statement re-checks every condition. PostgreSQL: rows another dispatcher is
      // claiming right now are skipped, not waited for; a row whose lease was just taken fails
      // the re-check. SQLite: one writer at a time makes the update atomic.
      const chosen = this.#dialect.name === 'postgres' ? due('e').forUpdate().skipLocked() : due('e');
      const rows = await this.#db
        .updateTable('webhook_endpoints')
        .set({ lease_owner: owner, lease_until: this.#dialect.toTime(leaseUntil) })
        .where('id', 'in', chosen)
        .returningAll()
        .execute();
      return rows.map((row) => this.#toEndpoint(row));
    });
  }

  async countDue(now: Date): Promise<number> {
    const at = this.#dialect.toTime(now);
    const row = await this.#outage(() =>
      this.#db
        .selectFrom('webhook_endpoints as e')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('e.enabled', '=', this.#bool(true))
        .where('e.next_attempt_at', '<=', at)
        .where(
          sql<boolean>`(e."cursor" < (select coalesce(max(seq), 0) from events)
            or exists (select 1 from webhook_replays r where r.endpoint_id = e.id and r.next_attempt_at <= ${at}))`,
        )
        .executeTakeFirstOrThrow(),
    );
    return Number(row.n);
  }

  async maxSequence(signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    return this.#outage(() => maxSequenceIn(this.#db));
  }

  async eventsAfter(
    after: number,
    upTo: number,
    types: readonly EventType[] | null,
    limit: number,
    signal?: AbortSignal,
  ): Promise<StoredEvent[]> {
    signal?.throwIfAborted();
    let select = this.#db.selectFrom('events').selectAll().where('seq', '>', after).where('seq', '<=', upTo).orderBy('seq').limit(limit);
    if (types !== null) select = select.where('type', 'in', [...types]);
    const rows = await this.#outage(() => select.execute());
    return rows.map((row) => toStoredEvent(row, this.#dialect));
  }

  async dueReplays(endpointId: string, now: Date, limit: number, signal?: AbortSignal): Promise<PendingReplay[]> {
    signal?.throwIfAborted();
    const rows = await this.#outage(() =>
      this.#db
        .selectFrom('webhook_replays as r')
        .leftJoin('events as ev', 'ev.seq', 'r.event_seq')
        .selectAll('ev')
        .select(['r.event_seq', 'r.attempt', 'r.generation', 'r.first_attempt_at', 'r.replay'])
        .where('r.endpoint_id', '=', endpointId)
        .where('r.next_attempt_at', '<=', this.#dialect.toTime(now))
        .orderBy('r.event_seq')
        .limit(limit)
        .execute(),
    );
    return rows.map((row) => ({
      sequence: Number(row.event_seq),
      attempt: row.attempt,
      generation: row.generation,
      firstAttemptAt: row.first_attempt_at === null ? null : this.#dialect.fromTime(row.first_attempt_at),
      replay: Boolean(row.replay),
      event: row.id === null ? undefined : toStoredEvent({ ...row, seq: row.event_seq } as never, this.#dialect),
    }));
  }

  async settle(owner: string, endpointId: string, settlement: Settlement, leaseUntil: Date): Promise<boolean> {
    const t = (date: Date) => this.#dialect.toTime(date);
    return this.#outage(async () => {
      try {
        await this.#db.transaction().execute(async (trx) => {
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
                    enabled: this.#bool(false),
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
            .executeTakeFirst();
          if (Number(updated.numUpdatedRows) === 0) throw new LeaseLost();
          const attempts = settlement.attempts ?? [];
          if (attempts.length > 0)
            await trx
              .insertInto('webhook_attempts')
              .values(attempts.map((a) => this.#toAttemptRow(a)))
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
              replay: this.#bool(scheduled.replay),
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
          if (disable) await appendEvent(trx, this.#dialect, disable.event);
        });
        return true;
      } catch (error) {
        if (error instanceof LeaseLost) return false;
        throw error;
      }
    });
  }

  async release(owner: string, endpointId: string, nextAttemptAt?: Date): Promise<void> {
    await this.#outage(() =>
      this.#db
        .updateTable('webhook_endpoints')
        .set({
          lease_owner: null,
          lease_until: null,
          ...(nextAttemptAt ? { next_attempt_at: this.#dialect.toTime(nextAttemptAt) } : {}),
        })
        .where('id', '=', endpointId)
        .where('lease_owner', '=', owner)
        .execute(),
    );
  }

  async releaseAll(owner: string): Promise<number> {
    const result = await this.#outage(() =>
      this.#db
        .updateTable('webhook_endpoints')
        .set({ lease_owner: null, lease_until: null })
        .where('lease_owner', '=', owner)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }

  // --- mapping ---------------------------------------------------------------------------

  #bool(value: boolean): boolean | number {
    // better-sqlite3 binds no booleans.
    return this.#dialect.name === 'sqlite' ? (value ? 1 : 0) : value;
  }

  #toRow(e: WebhookEndpoint) {
    const t = (date: Date) => this.#dialect.toTime(date);
    return {
      id: e.id,
      url: e.url,
      description: e.description,
      event_types: e.eventTypes === null ? null : this.#dialect.toJson(e.eventTypes),
      enabled: this.#bool(e.enabled),
      ordered: this.#bool(e.ordered),
      secrets: this.#dialect.toJson(e.secrets.map((s) => ({ secret: s.secret, expires_at: s.expiresAt?.toISOString() ?? null }))),
      created_at: t(e.createdAt),
      updated_at: t(e.updatedAt),
      disabled_at: e.disabledAt === null ? null : t(e.disabledAt),
      disabled_reason: e.disabledReason,
      cursor: e.cursor,
      next_attempt_at: t(e.nextAttemptAt),
      attempt: e.attempt,
      failing_since: e.failingSince === null ? null : t(e.failingSince),
      lease_owner: null,
      lease_until: null,
    };
  }

  #toEndpoint(row: EndpointRow): WebhookEndpoint {
    const d = this.#dialect;
    const secrets = d.fromJson(row.secrets) as { secret: string; expires_at: string | null }[];
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      eventTypes: row.event_types === null ? null : (d.fromJson(row.event_types) as EventType[]),
      enabled: Boolean(row.enabled),
      ordered: Boolean(row.ordered),
      secrets: secrets.map((s): EndpointSecret => ({ secret: s.secret, expiresAt: s.expires_at === null ? null : new Date(s.expires_at) })),
      createdAt: d.fromTime(row.created_at),
      updatedAt: d.fromTime(row.updated_at),
      disabledAt: row.disabled_at === null ? null : d.fromTime(row.disabled_at),
      disabledReason: row.disabled_reason,
      cursor: Number(row.cursor),
      nextAttemptAt: d.fromTime(row.next_attempt_at),
      attempt: row.attempt,
      failingSince: row.failing_since === null ? null : d.fromTime(row.failing_since),
    };
  }

  #toAttemptRow(a: DeliveryAttempt) {
    return {
      id: a.id,
      endpoint_id: a.endpointId,
      event_id: a.eventId,
      event_seq: a.eventSequence,
      attempt: a.attempt,
      attempted_at: this.#dialect.toTime(a.attemptedAt),
      outcome: a.outcome,
      status: a.status,
      latency_ms: a.latencyMs,
      error_code: a.errorCode,
      error_message: a.errorMessage,
      response_body: a.responseBody,
      replay: this.#bool(a.replay),
    };
  }

  #toAttempt(row: Selectable<WebhookAttemptsTable>): DeliveryAttempt {
    return {
      id: row.id,
      endpointId: row.endpoint_id,
      eventId: row.event_id,
      eventSequence: Number(row.event_seq),
      attempt: row.attempt,
      attemptedAt: this.#dialect.fromTime(row.attempted_at),
      outcome: row.outcome,
      status: row.status,
      latencyMs: row.latency_ms,
      errorCode: row.error_code,
      errorMessage: row.error_message,
      responseBody: row.response_body,
      replay: Boolean(row.replay),
    };
  }

  #outage<T>(work: () => Promise<T>): Promise<T> {
    return failOnOutage(this.#dialect, work);
  }
}

/** The settling transaction found the lease taken over: it is rolled back. */
class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

async function maxSequenceIn(db: Kysely<Schema> | Transaction<Schema>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0);
}
