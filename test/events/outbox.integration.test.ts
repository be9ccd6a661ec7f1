// Every change writes its event in its own transaction; the feed reads them in commit order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { EventsService } from '../../src/events/service.js';
import { SqlEventStore } from '../../src/events/sql-store.js';
import type { StoredEvent } from '../../src/events/model.js';
import { EmailTakenError, VersionMismatchError } from '../../src/users/errors.js';
import type { UsersService } from '../../src/users/service.js';
import { ValidationError } from '../../src/kit/errors.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { usersServiceOver } from '../helpers/app.js';

const ctx = (n: number) => ({ actor: 'key:0123456789abcdef', requestId: `req-${n}` });

for (const [dialect, open, skip] of await dialects()) {
  describe(`the outbox on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let users: UsersService;
    let events: EventsService;
    before(async () => {
      testDb = await open();
      users = await usersServiceOver(testDb.database);
      events = new EventsService({ store: new SqlEventStore(testDb.database.db, testDb.database.dialect) });
    });
    after(() => testDb?.cleanup());

    const all = async (after = 0) => (await events.feed({ after: String(after), limit: 1000 })).events;
    const last = async () => (await all()).at(-1);

    test('create, update and delete each write one event with actor, request id and a snapshot', async () => {
      const { user } = await users.create({ email: 'Ada@Example.com', name: 'Ada', attributes: { team: 'core' } }, undefined, ctx(1));
      const created = await last();
      assert.equal(created?.type, 'user.created');
      assert.equal(created.subjectId, user.id);
      assert.equal(created.actor, 'key:0123456789abcdef');
      assert.equal(created.requestId, 'req-1');
      assert.deepEqual(created.data, {
        user: {
          id: user.id,
          email: 'Ada@Example.com',
          name: 'Ada',
          given_name: null,
          family_name: null,
          external_id: null,
          active: true,
          attributes: { team: 'core' },
          profile: {},
          version: 1,
          created_at: user.createdAt.toISOString(),
          updated_at: user.updatedAt.toISOString(),
        },
      });

      const updated = await users.update(user.id, { name: 'Ada L.', attributes: { team: null, level: 2 } }, [1], ctx(2));
      const change = await last();
      assert.equal(change?.type, 'user.updated');
      assert.ok(change.sequence > created.sequence);
      assert.deepEqual(change.data.changed, ['name', 'attributes']);
      assert.deepEqual(change.data.previous, { name: 'Ada', attributes: { team: 'core' } });
      assert.equal((change.data.user as { version: number }).version, updated.version);

      // Deactivation is an ordinary change; the provisioning fields report their public names.
      await users.update(user.id, { active: false, external_id: 'Okta-1', profile: { title: 'CTO' } }, [2], ctx(2));
      const deactivation = await last();
      assert.deepEqual(deactivation?.data.changed, ['active', 'external_id', 'profile']);
      assert.deepEqual(deactivation.data.previous, { active: true, external_id: null, profile: {} });
      assert.deepEqual(
        (({ active, external_id, profile }) => ({ active, external_id, profile }))(deactivation.data.user as Record<string, unknown>),
        { active: false, external_id: 'Okta-1', profile: { title: 'CTO' } },
      );

      await users.delete(user.id, [3], ctx(3));
      const deleted = await last();
      assert.equal(deleted?.type, 'user.deleted');
      assert.equal(deleted.requestId, 'req-3');
      assert.deepEqual((deleted.data.user as { name: string; version: number }).version, 3, 'the last version is in the tombstone');
    });

    test('no change, no event: a no-op patch, a vetoed change and a conflict write nothing', async () => {
      const { user } = await users.create({ email: 'quiet@example.com', name: 'Quiet' }, undefined, ctx(4));
      await users.create({ email: 'taken@example.com', name: 'Taken' }, undefined, ctx(5));
      const before = (await last())!.sequence;
      await users.update(user.id, { name: 'Quiet' }, undefined, ctx(6));
      await assert.rejects(users.update(user.id, { name: 'Loud' }, [7], ctx(7)), VersionMismatchError);
      await assert.rejects(users.update(user.id, { email: 'TAKEN@example.com' }, undefined, ctx(8)), EmailTakenError);
      await assert.rejects(users.create({ email: 'taken@example.com', name: 'Again' }, undefined, ctx(9)), EmailTakenError);
      await assert.rejects(users.delete(user.id, [9], ctx(10)), VersionMismatchError);
      assert.equal((await last())!.sequence, before);
    });

    test('no event without its change: an event that cannot be written rolls the change back', async () => {
      // Drop the events table's ability to accept rows by taking its id as a duplicate: the
      // simplest way to make the event insert fail inside the user's transaction.
      const { user } = await users.create({ email: 'atomic@example.com', name: 'Atomic' }, undefined, ctx(11));
      const created = (await last())!;
      await sql`update events set id = ${'00000000-0000-7000-8000-000000000000'} where seq = ${created.sequence}`.execute(
        testDb.database.db,
      );
      const fixed = await usersServiceOver(testDb.database, { newId: () => '00000000-0000-7000-8000-000000000000' });
      await assert.rejects(fixed.update(user.id, { name: 'Changed' }, undefined, ctx(12)));
      assert.equal((await users.get(user.id)).name, 'Atomic', 'the user change was rolled back with its event');
      assert.equal((await last())!.sequence, created.sequence);
    });

    test('the feed pages by sequence, filters by type and says where to resume', async () => {
      const start = (await last())!.sequence;
      for (let i = 0; i < 5; i++) await users.create({ email: `page-${i}@example.com`, name: `P${i}` }, undefined, ctx(20 + i));
      const first = await events.feed({ after: String(start), limit: 2 });
      assert.equal(first.events.length, 2);
      const second = await events.feed({ after: String(first.nextAfter), limit: 10 });
      assert.equal(second.events.length, 3);
      assert.ok(second.events[0]!.sequence > first.events[1]!.sequence);
      const empty = await events.feed({ after: String(second.nextAfter), limit: 10 });
      assert.deepEqual([empty.events.length, empty.nextAfter], [0, second.nextAfter], 'nothing new: resume from the same place');
      const deletions = await events.feed({ after: '0', limit: 100, type: 'user.deleted' });
      assert.ok(deletions.events.length >= 1 && deletions.events.every((e) => e.type === 'user.deleted'));
      await assert.rejects(events.feed({ after: '-1', limit: 1 }), ValidationError);
      await assert.rejects(events.feed({ after: '0', limit: 1, type: 'user.exploded' }), ValidationError);
    });

    test('retention prunes old events in bounded batches and keeps recent ones', async () => {
      const kept = await all();
      const old = new Date(Date.now() - 40 * 86_400_000);
      const firstTwo = kept.slice(0, 3).map((e) => e.sequence);
      await testDb.database.db
        .updateTable('events')
        .set({ occurred_at: testDb.database.dialect.toTime(old) })
        .where('seq', 'in', firstTwo)
        .execute();
      const pruned = await events.prune(30 * 86_400_000, 2);
      assert.equal(pruned, 3, 'two full batches of at most 2');
      const after = await all();
      assert.equal(after.length, kept.length - 3);
      assert.ok(after.every((e) => !firstTwo.includes(e.sequence)));
    });
  });
}

describe('sequence order matches commit order under concurrent writers (PostgreSQL)', async () => {
  const [, open, skip] = (await dialects()).find(([name]) => name === 'postgres')!;
  let testDb: TestDatabase;
  before(async () => {
    if (!skip) testDb = await open();
  });
  after(() => testDb?.cleanup());

  test('a reader polling the feed never sees a sequence appear below one it already saw', { skip }, async () => {
    const users = await usersServiceOver(testDb.database);
    const events = new EventsService({ store: new SqlEventStore(testDb.database.db, testDb.database.dialect) });
    const WRITERS = 8;
    const PER_WRITER = 40;
    let writing = true;
    const seen: StoredEvent[] = [];
    let violations = 0;
    const reader = (async () => {
      let after = 0;
      let maxSeen = 0;
      while (writing || after < maxSeen) {
        // Read everything from the start each time: a late-committing lower sequence would show up here.
        const everything = (await events.feed({ after: '0', limit: 1000 })).events;
        for (const e of everything) if (e.sequence <= maxSeen && !seen.some((s) => s.sequence === e.sequence)) violations++;
        for (const e of everything) if (e.sequence > maxSeen) seen.push(e);
        maxSeen = Math.max(maxSeen, ...everything.map((e) => e.sequence));
        after = maxSeen;
        if (!writing) break;
      }
    })();
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) {
          // Odd writers send an Idempotency-Key: both statements a PostgreSQL create can be.
          const key = w % 2 === 1 ? `w${w}-${i}` : undefined;
          const { user } = await users.create({ email: `w${w}-${i}@example.com`, name: `W${w}` }, key, { actor: `writer:${w}` });
          if (i % 3 === 0) await users.update(user.id, { name: `W${w}.${i}` }, undefined, { actor: `writer:${w}` });
        }
      }),
    );
    writing = false;
    await reader;
    const final = (await events.feed({ after: '0', limit: 1000 })).events;
    assert.equal(violations, 0, 'an event appeared below a sequence the reader had already passed');
    assert.equal(final.length, WRITERS * PER_WRITER + WRITERS * Math.ceil(PER_WRITER / 3));
    assert.deepEqual(
      seen.map((e) => e.sequence),
      final.map((e) => e.sequence).filter((s) => s <= seen.at(-1)!.sequence),
      'the reader saw every event up to where it stopped, in order',
    );
  });
});
