import { sql, type Kysely } from 'kysely';
import { failOnOutage, type SqlDialect } from '../db/dialect.js';
import type { Schema } from '../db/schema.js';
import type { EventType } from '../events/model.js';
import type { WebhookEndpoint } from './model.js';
import type { DeliveryAttempt, EndpointPatch, ReplaySelection, WebhookStore } from './service.js';
import { maxSequenceIn } from './sql-delivery-store.js';
import { sqlBool, toAttempt, toEndpoint, toEndpointRow } from './sql-rows.js';

/** Rows inserted per statement when enqueueing a replay (bound parameters stay far below limits). */
const REPLAY_INSERT_BATCH = 500;

/**
 * The WebhookStore adapter (endpoints, secrets, the delivery log, replays) for SQLite and
 * PostgreSQL. The dispatcher's port is SqlDeliveryStore (sql-delivery-store.ts).
 */
export class SqlWebhookStore implements WebhookStore {
  // Parameter properties: every SQL adapter takes the same two, and spelling them out was the
  // same six lines in each.
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: SqlDialect,
  ) {}

  // --- endpoints -------------------------------------------------------------------------

  async createEndpoint(endpoint: Omit<WebhookEndpoint, 'cursor'>, signal?: AbortSignal): Promise<WebhookEndpoint> {
    signal?.throwIfAborted();
    return failOnOutage(this.dialect, () =>
      this.db.transaction().execute(async (trx) => {
        const cursor = await maxSequenceIn(trx);
        const row = toEndpointRow({ ...endpoint, cursor }, this.dialect);
        await trx.insertInto('webhook_endpoints').values(row).execute();
        return { ...endpoint, cursor };
      }),
    );
  }

  async getEndpoint(id: string, signal?: AbortSignal): Promise<WebhookEndpoint | undefined> {
    signal?.throwIfAborted();
    const row = await failOnOutage(this.dialect, () =>
      this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row ? toEndpoint(row, this.dialect) : undefined;
  }

  async listEndpoints(afterId: string | undefined, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    signal?.throwIfAborted();
    let select = this.db.selectFrom('webhook_endpoints').selectAll().orderBy('id').limit(limit);
    if (afterId !== undefined) select = select.where('id', '>', afterId);
    const rows = await failOnOutage(this.dialect, () => select.execute());
    return rows.map((row) => toEndpoint(row, this.dialect));
  }

  async updateEndpoint(
    id: string,
    change: (current: WebhookEndpoint) => EndpointPatch,
    signal?: AbortSignal,
  ): Promise<WebhookEndpoint | undefined> {
    signal?.throwIfAborted();
    return failOnOutage(this.dialect, () =>
      this.db.transaction().execute(async (trx) => {
        let select = trx.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
        if (this.dialect.lockRowsForUpdate) select = select.forUpdate();
        const row = await select.executeTakeFirst();
        if (!row) return undefined;
        const current = toEndpoint(row, this.dialect);
        const next = { ...current, ...change(current) };
        const {
          id: _id,
          cursor: _cursor,
          created_at: _created,
          lease_owner: _owner,
          lease_until: _until,
          ...values
        } = toEndpointRow(next, this.dialect);
        await trx.updateTable('webhook_endpoints').set(values).where('id', '=', id).execute();
        return next;
      }),
    );
  }

  async deleteEndpoint(id: string, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const result = await failOnOutage(this.dialect, () => this.db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst());
    return Number(result.numDeletedRows) > 0;
  }

  // --- delivery log and replays ----------------------------------------------------------

  async listAttempts(endpointId: string, beforeId: string | undefined, limit: number, signal?: AbortSignal): Promise<DeliveryAttempt[]> {
    signal?.throwIfAborted();
    let select = this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('endpoint_id', '=', endpointId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) select = select.where('id', '<', beforeId);
    const rows = await failOnOutage(this.dialect, () => select.execute());
    return rows.map((row) => toAttempt(row, this.dialect));
  }

  async findEventSequence(eventId: string, signal?: AbortSignal): Promise<number | undefined> {
    signal?.throwIfAborted();
    const row = await failOnOutage(this.dialect, () =>
      this.db.selectFrom('events').select('seq').where('id', '=', eventId).executeTakeFirst(),
    );
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
    return failOnOutage(this.dialect, async () => {
      let sequences: number[];
      if ('sequences' in selection) {
        sequences = [...selection.sequences];
      } else {
        // One more than allowed is enough to know the replay is too large.
        let select = this.db
          .selectFrom('events')
          .select('seq')
          .where('occurred_at', '>=', this.dialect.toTime(selection.since))
          .orderBy('seq')
          .limit(max + 1);
        if (types !== null) select = select.where('type', 'in', [...types]);
        sequences = (await select.execute()).map((row) => Number(row.seq));
        if (sequences.length > max) {
          const counted = await this.#countSince(selection.since, types);
          return { count: counted, refused: true };
        }
      }
      const due = this.dialect.toTime(now);
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < sequences.length; i += REPLAY_INSERT_BATCH) {
          signal?.throwIfAborted();
          const rows = sequences.slice(i, i + REPLAY_INSERT_BATCH).map((seq) => ({
            endpoint_id: endpointId,
            event_seq: seq,
            next_attempt_at: due,
            attempt: 1,
            first_attempt_at: null,
            replay: sqlBool(this.dialect, true),
          }));
          // A delivery of that event already pending for the endpoint: it is replayed once, now.
          await trx
            .insertInto('webhook_replays')
            .values(rows)
            .onConflict((oc) =>
              oc.columns(['endpoint_id', 'event_seq']).doUpdateSet({
                next_attempt_at: due,
                replay: sqlBool(this.dialect, true),
                generation: sql<number>`webhook_replays.generation + 1`,
              }),
            )
            .execute();
        }
      });
      return { count: sequences.length, refused: false };
    });
  }

  async #countSince(since: Date, types: readonly EventType[] | null): Promise<number> {
    let select = this.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('occurred_at', '>=', this.dialect.toTime(since));
    if (types !== null) select = select.where('type', 'in', [...types]);
    const row = await select.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async pruneAttempts(before: Date, limit: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const result = await failOnOutage(this.dialect, () =>
      this.db
        .deleteFrom('webhook_attempts')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('webhook_attempts')
            .select('id')
            .where('attempted_at', '<', this.dialect.toTime(before))
            .orderBy('attempted_at')
            .limit(limit),
        )
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }
}
