// The webhook store's contract on both dialects: endpoints, claims and leases, settling,
// replays and the delivery log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { Schema } from '../../src/db/schema.js';
import { ValidationError } from '../../src/kit/errors.js';
import { ReplayTooLargeError, WebhookEndpointNotFoundError } from '../../src/webhooks/errors.js';
import { activeSecrets, type WebhookEndpoint } from '../../src/webhooks/model.js';
import { REPLAY_MAX_EVENTS, type DeliveryAttempt } from '../../src/webhooks/service.js';
import { SqlDeliveryStore } from '../../src/webhooks/sql-delivery-store.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { bench, type Bench } from './harness.js';

/** A successful first attempt of `eventSequence` at `endpointId`, as the dispatcher logs one; `overrides` for the rest. */
function successfulAttempt(
  endpointId: string,
  eventSequence: number,
  attemptedAt: Date,
  overrides: Partial<DeliveryAttempt> = {},
): DeliveryAttempt {
  return {
    id: uuidv7(),
    endpointId,
    eventId: uuidv7(),
    eventSequence,
    attempt: 1,
    attemptedAt,
    outcome: 'success',
    status: 204,
    latencyMs: 1,
    errorCode: null,
    errorMessage: null,
    responseBody: '',
    replay: false,
    ...overrides,
  };
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`the webhook store on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let b: Bench;
    before(async () => {
      testDb = await open();
      b = await bench(testDb);
    });
    after(() => testDb?.cleanup());

    test('an endpoint starts at the newest event, with one secret shown once; CRUD round-trips every field', async () => {
      await b.createUsers(3, 'before');
      const max = await b.deliveries.maxSequence();
      const { endpoint, secret } = await b.webhooks.create({
        url: 'http://127.0.0.1:9/hook',
        description: 'crm',
        event_types: ['user.created', 'user.deleted'],
      });
      assert.match(secret, /^whsec_/);
      assert.equal(endpoint.cursor, max);
      assert.equal(endpoint.ordered, true);
      assert.equal(endpoint.enabled, true);
      const read = await b.webhooks.get(endpoint.id);
      assert.deepEqual(read, endpoint);
      assert.deepEqual(activeSecrets(read.secrets, new Date()), [secret]);

      const updated = await b.webhooks.update(endpoint.id, { enabled: false, ordered: false, event_types: null });
      assert.equal(updated.enabled, false);
      assert.equal(updated.disabledReason, 'disabled by an API caller');
      assert.equal(updated.eventTypes, null);
      assert.deepEqual(await b.webhooks.get(endpoint.id), updated);
      const again = await b.webhooks.update(endpoint.id, { enabled: true });
      assert.equal(again.disabledAt, null);
      assert.equal(again.cursor, max, 're-enabling keeps the cursor');

      const listed = await b.webhooks.list(undefined, 100);
      assert.ok(listed.some((e) => e.id === endpoint.id));
      await b.webhooks.delete(endpoint.id);
      await assert.rejects(b.webhooks.get(endpoint.id), WebhookEndpointNotFoundError);
      await assert.rejects(b.webhooks.delete(endpoint.id), WebhookEndpointNotFoundError);
    });

    test('a new URL brings a backed-off head event forward; other changes keep the schedule', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://old.example.com/hook' });
      await b.createUsers(1, 'moved');
      const now = new Date();
      const later = new Date(now.getTime() + 3_600_000);
      assert.ok((await b.deliveries.claim('mover', now, later, 1000)).some((e) => e.id === endpoint.id));
      assert.equal(await b.deliveries.settle('mover', endpoint.id, { endpoint: { attempt: 4, nextAttemptAt: later } }, later), true);
      await b.deliveries.release('mover', endpoint.id, later);
      const described = await b.webhooks.update(endpoint.id, { description: 'still failing' });
      assert.equal(described.nextAttemptAt.getTime(), later.getTime());
      const moved = await b.webhooks.update(endpoint.id, { url: 'https://new.example.com/hook' });
      assert.ok(moved.nextAttemptAt.getTime() <= Date.now());
      assert.equal(moved.attempt, 4, 'the attempt count goes on');
      assert.equal((await b.webhooks.get(endpoint.id)).url, 'https://new.example.com/hook');
      await b.webhooks.delete(endpoint.id);
    });

    test('invalid settings are refused with every field named', async () => {
      await assert.rejects(
        b.webhooks.create({ url: 'ftp://example.com', event_types: ['user.exploded'], enabled: 'yes' }),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.deepEqual(
            error.errors.map((e) => e.pointer),
            ['/url', '/event_types', '/enabled'],
          );
          return true;
        },
      );
    });

    test('rotation: the new secret signs first, the old one until the grace period ends', async () => {
      const { endpoint, secret: first } = await b.webhooks.create({ url: 'https://example.com/hook' });
      const { secret: second, endpoint: rotated } = await b.webhooks.rotateSecret(endpoint.id);
      assert.notEqual(second, first);
      assert.deepEqual(activeSecrets(rotated.secrets, new Date()), [second, first]);
      const old = rotated.secrets[1]!;
      assert.ok(old.expiresAt !== null && Math.abs(old.expiresAt.getTime() - Date.now() - 3_600_000) < 60_000);
      assert.deepEqual(activeSecrets(rotated.secrets, new Date(Date.now() + 2 * 3_600_000)), [second]);
      assert.deepEqual((await b.webhooks.get(endpoint.id)).secrets, rotated.secrets);
    });

    test('claims: a due endpoint goes to one owner at a time; an expired lease frees it; settle needs the lease', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://example.com/claims' });
      await b.createUsers(1, 'claim');
      const now = new Date();
      const soon = new Date(now.getTime() + 60_000);
      const mine = await b.deliveries.claim('a', now, soon, 1000);
      assert.ok(mine.some((e) => e.id === endpoint.id));
      const theirs = await b.deliveries.claim('b', now, soon, 1000);
      assert.ok(!theirs.some((e) => e.id === endpoint.id), 'leased endpoints are not claimed again');
      assert.equal(await b.deliveries.settle('b', endpoint.id, { endpoint: { attempt: 2 } }, soon), false);
      // Past the lease: another owner takes over, and the first can no longer write.
      const later = new Date(now.getTime() + 120_000);
      const takeover = await b.deliveries.claim('b', later, new Date(later.getTime() + 60_000), 1000);
      assert.ok(takeover.some((e) => e.id === endpoint.id));
      assert.equal(await b.deliveries.settle('a', endpoint.id, { endpoint: { attempt: 2 } }, soon), false);
      assert.equal(await b.deliveries.settle('b', endpoint.id, { endpoint: { cursor: await b.deliveries.maxSequence() } }, soon), true);
      assert.ok((await b.deliveries.releaseAll('b')) >= 1);
      assert.ok((await b.deliveries.releaseAll('a')) === 0 || true);
      const caughtUp = await b.deliveries.claim('c', later, new Date(later.getTime() + 60_000), 1000);
      assert.ok(!caughtUp.some((e) => e.id === endpoint.id), 'an endpoint at the newest event has nothing due');
      await b.deliveries.releaseAll('c');
      await b.webhooks.delete(endpoint.id);
    });

    test('stream settlements made together: a lost lease fails only its own endpoint; the others are settled with their log rows', async () => {
      const urls = ['https://example.com/group-1', 'https://example.com/group-2', 'https://example.com/group-3'];
      const endpoints = [];
      for (const url of urls) endpoints.push((await b.webhooks.create({ url })).endpoint);
      await b.createUsers(2, 'group');
      const max = await b.deliveries.maxSequence();
      const now = new Date();
      const soon = new Date(now.getTime() + 60_000);
      const claimed = await b.deliveries.claim('grouper', now, soon, 1000);
      for (const endpoint of endpoints) assert.ok(claimed.some((e) => e.id === endpoint.id));
      // The second endpoint's lease was taken over meanwhile.
      const [first, stolen, third] = endpoints as [WebhookEndpoint, WebhookEndpoint, WebhookEndpoint];
      await testDb.database.db.updateTable('webhook_endpoints').set({ lease_owner: 'thief' }).where('id', '=', stolen.id).execute();
      const attemptOf = (endpoint: WebhookEndpoint) => successfulAttempt(endpoint.id, max, now, { latencyMs: 3 });
      // Settled in the same turn, as workers whose groups fall due together: written in one transaction.
      const held = await Promise.all(
        endpoints.map((endpoint) =>
          b.deliveries.settle(
            'grouper',
            endpoint.id,
            { attempts: [attemptOf(endpoint)], endpoint: { cursor: max, attempt: 1, failingSince: null } },
            soon,
          ),
        ),
      );
      assert.deepEqual(held, [true, false, true]);
      const rows = await testDb.database.db
        .selectFrom('webhook_endpoints')
        .select(['id', 'cursor'])
        .where(
          'id',
          'in',
          endpoints.map((e) => e.id),
        )
        .execute();
      const cursorOf = (endpoint: WebhookEndpoint) => Number(rows.find((r) => r.id === endpoint.id)!.cursor);
      assert.equal(cursorOf(first), max);
      assert.equal(cursorOf(third), max);
      assert.equal(cursorOf(stolen), stolen.cursor, 'nothing is written for the endpoint whose lease was lost');
      assert.equal((await b.webhooks.deliveries(first.id, undefined, 10)).length, 1);
      assert.equal((await b.webhooks.deliveries(stolen.id, undefined, 10)).length, 0);
      assert.equal((await b.webhooks.deliveries(third.id, undefined, 10)).length, 1);
      await b.deliveries.releaseAll('grouper');
      await b.deliveries.releaseAll('thief');
      for (const endpoint of endpoints) await b.webhooks.delete(endpoint.id);
    });

    test('a stream settlement keeps every field of its log rows and of the endpoint state, awkward text included', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://example.com/fields' });
      await b.createUsers(2, 'fields');
      const max = await b.deliveries.maxSequence();
      const now = new Date();
      const soon = new Date(now.getTime() + 60_000);
      const claimed = await b.deliveries.claim('fields', now, soon, 1000);
      assert.ok(claimed.some((e) => e.id === endpoint.id));
      // Text that an array literal must quote or escape (PostgreSQL sends the rows as arrays).
      const awkward = ['{"a": [1, 2]}, \\ "quoted" \'single\'', 'NULL', '', ' spaced ', 'ünïcödé ✓ \n new line'];
      const failingSince = new Date(now.getTime() - 5_000);
      const attempts: DeliveryAttempt[] = awkward.map((text, i) => ({
        id: uuidv7(),
        endpointId: endpoint.id,
        eventId: uuidv7(),
        eventSequence: max - (i % 2),
        attempt: i + 1,
        attemptedAt: new Date(now.getTime() + i),
        outcome: i % 2 === 0 ? 'success' : 'permanent',
        status: i === 1 ? null : 200 + i,
        latencyMs: 10 * i,
        errorCode: i % 2 === 0 ? null : text,
        errorMessage: i % 2 === 0 ? null : text,
        responseBody: text,
        replay: i === 3,
      }));
      const held = await b.deliveries.settle(
        'fields',
        endpoint.id,
        { attempts, endpoint: { cursor: max, attempt: 4, failingSince } },
        soon,
      );
      assert.equal(held, true);
      const logged = await b.webhooks.deliveries(endpoint.id, undefined, 10);
      assert.deepEqual(
        [...logged].sort((x, y) => x.attempt - y.attempt),
        attempts,
      );
      const row = await testDb.database.db
        .selectFrom('webhook_endpoints')
        .select(['cursor', 'attempt', 'failing_since', 'lease_until', 'lease_owner'])
        .where('id', '=', endpoint.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.cursor), max);
      assert.equal(row.attempt, 4);
      assert.equal(testDb.database.dialect.fromTime(row.failing_since).getTime(), failingSince.getTime());
      assert.equal(testDb.database.dialect.fromTime(row.lease_until).getTime(), soon.getTime());
      assert.equal(row.lease_owner, 'fields');
      // failing_since back to null (a success after failures).
      assert.equal(
        await b.deliveries.settle('fields', endpoint.id, { attempts: [], endpoint: { cursor: max, attempt: 1, failingSince: null } }, soon),
        true,
      );
      const cleared = await testDb.database.db
        .selectFrom('webhook_endpoints')
        .select('failing_since')
        .where('id', '=', endpoint.id)
        .executeTakeFirstOrThrow();
      assert.equal(cleared.failing_since, null);
      await b.deliveries.releaseAll('fields');
      await b.webhooks.delete(endpoint.id);
    });

    test('two stream settlements of one endpoint written together: both groups of log rows, the later state', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://example.com/twice' });
      await b.createUsers(2, 'twice');
      const max = await b.deliveries.maxSequence();
      const now = new Date();
      const soon = new Date(now.getTime() + 60_000);
      assert.ok((await b.deliveries.claim('twice', now, soon, 1000)).some((e) => e.id === endpoint.id));
      const attemptAt = (sequence: number) => successfulAttempt(endpoint.id, sequence, now);
      // The dispatcher never does this (a worker waits for its settlement), but the store must not
      // lose either: one statement joining both to the endpoint's row would apply only one of them.
      const held = await Promise.all([
        b.deliveries.settle(
          'twice',
          endpoint.id,
          { attempts: [attemptAt(max - 1)], endpoint: { cursor: max - 1, attempt: 1, failingSince: null } },
          soon,
        ),
        b.deliveries.settle(
          'twice',
          endpoint.id,
          { attempts: [attemptAt(max)], endpoint: { cursor: max, attempt: 1, failingSince: null } },
          soon,
        ),
      ]);
      assert.deepEqual(held, [true, true]);
      assert.equal((await b.webhooks.deliveries(endpoint.id, undefined, 10)).length, 2);
      const row = await testDb.database.db
        .selectFrom('webhook_endpoints')
        .select('cursor')
        .where('id', '=', endpoint.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.cursor), max);
      await b.deliveries.releaseAll('twice');
      await b.webhooks.delete(endpoint.id);
    });

    test(
      'stream settlements made together are one statement (one round trip) on PostgreSQL',
      { skip: dialect !== 'postgres' },
      async () => {
        const { driver } = testDb.database;
        assert.equal(driver.kind, 'postgres');
        // A store on a pool of its own whose clients count what they send, BEGIN and COMMIT included.
        const pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
        const sent: string[] = [];
        pool.on('connect', (client) => {
          const query = client.query.bind(client) as (...args: unknown[]) => unknown;
          (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
            sent.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string }).text));
            return query(...args);
          };
        });
        const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
        try {
          const store = new SqlDeliveryStore(db, testDb.database.dialect);
          const endpoints = [];
          for (const n of [1, 2, 3]) endpoints.push((await b.webhooks.create({ url: `https://example.com/one-${n}` })).endpoint);
          await b.createUsers(1, 'one');
          const max = await store.maxSequence();
          const now = new Date();
          const soon = new Date(now.getTime() + 60_000);
          const claimed = await store.claim('one', now, soon, 1000);
          for (const endpoint of endpoints) assert.ok(claimed.some((e) => e.id === endpoint.id));
          sent.length = 0;
          const held = await Promise.all(
            endpoints.map((endpoint) =>
              store.settle(
                'one',
                endpoint.id,
                {
                  attempts: [0, 1].map((i) => successfulAttempt(endpoint.id, max, now, { attempt: 1 + i })),
                  endpoint: { cursor: max, attempt: 1, failingSince: null },
                },
                soon,
              ),
            ),
          );
          assert.deepEqual(held, [true, true, true]);
          assert.equal(sent.length, 1, `sent: ${sent.map((text) => text.slice(0, 40)).join(' | ')}`);
          for (const endpoint of endpoints) assert.equal((await b.webhooks.deliveries(endpoint.id, undefined, 10)).length, 2);
          await store.releaseAll('one');
          for (const endpoint of endpoints) await b.webhooks.delete(endpoint.id);
        } finally {
          await db.destroy();
        }
      },
    );

    test(
      'on PostgreSQL, settlements and releases may commit without waiting for the WAL flush; claims, disabling settlements and events wait',
      { skip: dialect !== 'postgres' },
      async () => {
        const { db } = testDb.database;
        // A deferred trigger runs at commit: it sees the synchronous_commit that commit uses.
        await sql`create table sync_seen (n bigserial primary key, tbl text not null, setting text not null)`.execute(db);
        await sql`create function sync_seen() returns trigger language plpgsql as $$ begin
          insert into sync_seen (tbl, setting) values (tg_table_name, current_setting('synchronous_commit')); return null; end $$`.execute(
          db,
        );
        for (const [table, on] of [
          ['webhook_endpoints', 'update'],
          ['events', 'insert'],
        ] as const)
          await sql`create constraint trigger ${sql.raw(`sync_seen_${table}`)} after ${sql.raw(on)} on ${sql.table(table)}
            deferrable initially deferred for each row execute function sync_seen()`.execute(db);
        /** What the commits made by `work` used, as "table setting" per row changed. */
        const seen = async (work: () => Promise<unknown>): Promise<string[]> => {
          await sql`truncate sync_seen`.execute(db);
          await work();
          const { rows } = await sql<{ tbl: string; setting: string }>`select tbl, setting from sync_seen order by n`.execute(db);
          return [...new Set(rows.map((row) => `${row.tbl} ${row.setting}`))];
        };
        try {
          const { endpoint } = await b.webhooks.create({ url: 'https://example.com/flush' });
          await b.createUsers(1, 'flush');
          const max = await b.deliveries.maxSequence();
          const now = new Date();
          const soon = new Date(now.getTime() + 60_000);
          const stream = (skipFlushWait: boolean) =>
            b.deliveries.settle(
              'flush',
              endpoint.id,
              {
                attempts: [successfulAttempt(endpoint.id, max, now)],
                endpoint: { cursor: max, attempt: 1, failingSince: null },
                skipFlushWait,
              },
              soon,
            );
          assert.deepEqual(await seen(() => b.createUsers(1, 'flush-writer')), ['events on'], "the writers' commits wait");
          assert.deepEqual(await seen(() => b.deliveries.claim('flush', now, soon, 1000)), ['webhook_endpoints on'], 'a claim waits');
          assert.deepEqual(await seen(() => stream(true)), ['webhook_endpoints off']);
          assert.deepEqual(await seen(() => stream(false)), ['webhook_endpoints on']);
          const retry = { endpoint: { attempt: 2, nextAttemptAt: soon }, skipFlushWait: true };
          assert.deepEqual(await seen(() => b.deliveries.settle('flush', endpoint.id, retry, soon)), ['webhook_endpoints off']);
          assert.deepEqual(
            await seen(() => b.deliveries.release('flush', endpoint.id)),
            ['webhook_endpoints off'],
            'a release does not wait',
          );
          await testDb.database.db
            .updateTable('webhook_endpoints')
            .set({ next_attempt_at: now.toISOString() })
            .where('id', '=', endpoint.id)
            .execute();
          assert.equal((await b.deliveries.claim('flush', now, soon, 1000)).length, 1);
          const at = new Date();
          const disable = {
            skipFlushWait: true,
            disable: {
              at,
              reason: 'test',
              event: {
                id: uuidv7(),
                type: 'webhook_endpoint.disabled' as const,
                occurredAt: at,
                actor: 'system:webhooks',
                requestId: null,
                subjectId: endpoint.id,
                data: { endpoint_id: endpoint.id },
              },
            },
          };
          assert.deepEqual(
            await seen(() => b.deliveries.settle('flush', endpoint.id, disable, soon)),
            ['webhook_endpoints on', 'events on'],
            'a settlement that appends an event waits, skipFlushWait or not',
          );
          await b.webhooks.delete(endpoint.id);
        } finally {
          for (const table of ['webhook_endpoints', 'events'])
            await sql`drop trigger if exists ${sql.raw(`sync_seen_${table}`)} on ${sql.table(table)}`.execute(db);
          await sql`drop function if exists sync_seen()`.execute(db);
          await sql`drop table if exists sync_seen`.execute(db);
        }
      },
    );

    test('the same read of events asked for while it is in flight is answered by that read; other ranges by their own', async () => {
      const before = await b.deliveries.maxSequence();
      await b.createUsers(3, 'shared');
      const upTo = await b.deliveries.maxSequence();
      const [first, again, narrower] = await Promise.all([
        b.deliveries.eventsAfter(before, upTo, null, 100),
        b.deliveries.eventsAfter(before, upTo, null, 100),
        b.deliveries.eventsAfter(before, upTo - 1, null, 100),
      ]);
      assert.equal(again, first, 'one read served both');
      assert.equal(first.length, 3);
      assert.ok(first.every((e) => e.sequence > before && e.sequence <= upTo));
      assert.notEqual(narrower, first);
      assert.deepEqual(
        narrower.map((e) => e.sequence),
        first.map((e) => e.sequence).filter((seq) => seq <= upTo - 1),
      );
      // Finished reads are not kept: a later read is a new one (its events may have been pruned meanwhile).
      assert.notEqual(await b.deliveries.eventsAfter(before, upTo, null, 100), first);
    });

    test('a replay asked for while the same event is in flight is neither lost nor postponed by settling the old one', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://example.com/again', event_types: ['user.created'] });
      const since = new Date();
      await b.createUsers(2, 'again');
      await b.webhooks.replay(endpoint.id, { since: since.toISOString() });
      const now = new Date();
      const soon = new Date(now.getTime() + 60_000);
      await b.deliveries.claim('inflight', now, soon, 1000);
      const [first, second] = await b.deliveries.dueReplays(endpoint.id, now, 100);
      // Both are in flight; the caller asks again for everything since then.
      assert.deepEqual(await b.webhooks.replay(endpoint.id, { since: since.toISOString() }), { enqueued: 2 });
      const later = new Date(now.getTime() + 3_600_000);
      assert.equal(
        await b.deliveries.settle(
          'inflight',
          endpoint.id,
          { replayDone: { sequence: first!.sequence, generation: first!.generation } },
          soon,
        ),
        true,
      );
      const retryAt = new Date(now.getTime() + 600_000);
      const reschedule = {
        sequence: second!.sequence,
        attempt: 2,
        generation: second!.generation,
        firstAttemptAt: now,
        replay: true,
        nextAttemptAt: retryAt,
      };
      assert.equal(await b.deliveries.settle('inflight', endpoint.id, { replayScheduled: reschedule }, soon), true);
      const pending = await b.deliveries.dueReplays(endpoint.id, new Date(), 100);
      assert.deepEqual(
        pending.map((r) => [r.sequence, r.generation]),
        [
          [first!.sequence, first!.generation + 1],
          [second!.sequence, second!.generation + 1],
        ],
        'both new requests are still pending and due now',
      );
      assert.ok((await b.deliveries.dueReplays(endpoint.id, later, 100)).length === 2);
      await b.deliveries.releaseAll('inflight');
      await b.webhooks.delete(endpoint.id);
    });

    test('replays: by event id or since a time, filtered by type, bounded; the delivery log pages newest first', async () => {
      const { endpoint } = await b.webhooks.create({ url: 'https://example.com/replay', event_types: ['user.created'] });
      const since = new Date();
      await b.createUsers(3, 'replay');
      const { enqueued } = await b.webhooks.replay(endpoint.id, { since: since.toISOString() });
      assert.equal(enqueued, 3);
      const due = await b.deliveries.dueReplays(endpoint.id, new Date(), 100);
      assert.equal(due.length, 3);
      assert.ok(due.every((r) => r.replay && r.attempt === 1 && r.event?.type === 'user.created'));
      const one = due[0]!.event!;
      assert.deepEqual(await b.webhooks.replay(endpoint.id, { eventId: one.id }), { enqueued: 1 });
      assert.equal((await b.deliveries.dueReplays(endpoint.id, new Date(), 100)).length, 3, 'a pending replay is not doubled');
      await assert.rejects(b.webhooks.replay(endpoint.id, { eventId: uuidv7() }), /No event/);
      await assert.rejects(b.webhooks.replay(endpoint.id, {}), ValidationError);
      await assert.rejects(b.webhooks.replay(endpoint.id, { since: 'yesterday' }), ValidationError);
      const refused = await b.store.enqueueReplay(endpoint.id, { since }, null, new Date(), 2);
      assert.equal(refused.refused, true);
      assert.ok(refused.count >= 3);
      assert.equal(REPLAY_MAX_EVENTS, 100_000);
      assert.ok(new ReplayTooLargeError('x').code === 'replay-too-large');

      // Three log rows through settle, then paging.
      const now = new Date();
      await b.deliveries.claim('log', now, new Date(now.getTime() + 60_000), 1000);
      // Taken as the dispatcher takes them: after the last request (a request for a delivery
      // already taken is a new one; see the test above).
      const taken = await b.deliveries.dueReplays(endpoint.id, now, 100);
      for (const [i, r] of taken.entries()) {
        const settled = await b.deliveries.settle(
          'log',
          endpoint.id,
          {
            replayDone: { sequence: r.sequence, generation: r.generation },
            attempts: [
              {
                id: uuidv7(),
                endpointId: endpoint.id,
                eventId: r.event!.id,
                eventSequence: r.sequence,
                attempt: 1,
                attemptedAt: new Date(now.getTime() + i),
                outcome: 'success',
                status: 200,
                latencyMs: 3,
                errorCode: null,
                errorMessage: null,
                responseBody: `ok ${i}`,
                replay: true,
              },
            ],
          },
          new Date(now.getTime() + 60_000),
        );
        assert.equal(settled, true);
      }
      await b.deliveries.releaseAll('log');
      assert.equal((await b.deliveries.dueReplays(endpoint.id, new Date(), 100)).length, 0);
      const first = await b.webhooks.deliveries(endpoint.id, undefined, 2);
      assert.deepEqual(
        first.map((a) => a.responseBody),
        ['ok 2', 'ok 1'],
      );
      const rest = await b.webhooks.deliveries(endpoint.id, first.at(-1)!.id, 2);
      assert.deepEqual(
        rest.map((a) => a.responseBody),
        ['ok 0'],
      );
      assert.equal(rest[0]!.replay, true);
      assert.equal(rest[0]!.status, 200);
      // Retention: everything older than a minute from now goes, in batches.
      const pruned = await b.webhooks.pruneAttempts(-60_000, 2);
      assert.ok(pruned >= 3);
      assert.equal((await b.webhooks.deliveries(endpoint.id, undefined, 10)).length, 0);
    });
  });
}
