// A subject's events (GET /v1/events?subject_id=, a user's page in the console) and the newest-first
// read (the console's live view), on a SQLite file and on PostgreSQL, through the service and the
// SQL adapter the server runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventsService } from '../../src/events/service.js';
import { SqlEventStore } from '../../src/events/sql-store.js';
import { ValidationError } from '../../src/kit/errors.js';
import type { UsersService } from '../../src/users/service.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { usersServiceOver } from '../helpers/app.js';

for (const [dialect, open, skip] of await dialects()) {
  describe(`a subject's events and the newest first on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let users: UsersService;
    let events: EventsService;
    let a: string;
    let b: string;
    before(async () => {
      testDb = await open();
      users = await usersServiceOver(testDb.database);
      events = new EventsService({ store: new SqlEventStore(testDb.database.db, testDb.database.dialect) });
      a = (await users.create({ email: 'a@example.com', name: 'A' }, undefined)).user.id;
      b = (await users.create({ email: 'b@example.com', name: 'B' }, undefined)).user.id;
      for (const name of ['A1', 'A2', 'A3']) await users.update(a, { name }, undefined);
      await users.update(b, { name: 'B1' }, undefined);
    });
    after(() => testDb?.cleanup());

    test('the feed of one subject: only its events, oldest first, resumable by after', async () => {
      const page = await events.feed({ subjectId: a, limit: 100 });
      assert.deepEqual(
        page.events.map((e) => [e.type, e.subjectId]),
        [['user.created', a], ...Array.from({ length: 3 }, () => ['user.updated', a])],
      );
      const sequences = page.events.map((e) => e.sequence);
      assert.deepEqual(
        sequences,
        [...sequences].sort((x, y) => x - y),
      );
      const rest = await events.feed({ subjectId: a, after: String(sequences[1]), limit: 1 });
      assert.deepEqual(
        rest.events.map((e) => e.sequence),
        [sequences[2]],
      );
      assert.equal(rest.nextAfter, sequences[2]);
      const onlyCreated = await events.feed({ subjectId: b, type: 'user.created', limit: 100 });
      assert.deepEqual(
        onlyCreated.events.map((e) => [e.type, e.subjectId]),
        [['user.created', b]],
      );
      assert.deepEqual((await events.feed({ subjectId: '00000000-0000-4000-8000-000000000000', limit: 100 })).events, []);
    });

    test('the newest first: every event, one subject, one type, paged towards older ones by before', async () => {
      const all = (await events.feed({ limit: 100 })).events.map((e) => e.sequence);
      const newest = await events.latest({ limit: 3 });
      assert.deepEqual(
        newest.events.map((e) => e.sequence),
        all.slice(-3).reverse(),
      );
      assert.equal(newest.nextBefore, all.at(-3));
      const older = await events.latest({ limit: 100, before: String(newest.nextBefore) });
      assert.deepEqual(
        older.events.map((e) => e.sequence),
        all.slice(0, -3).reverse(),
      );
      assert.equal(older.nextBefore, undefined, 'a page that is not full has nothing older');

      const ofA = await events.latest({ subjectId: a, limit: 2 });
      assert.deepEqual(
        ofA.events.map((e) => [e.type, e.subjectId, e.data.user && (e.data.user as { name: string }).name]),
        [
          ['user.updated', a, 'A3'],
          ['user.updated', a, 'A2'],
        ],
      );
      const restOfA = await events.latest({ subjectId: a, limit: 2, before: String(ofA.nextBefore) });
      assert.deepEqual(
        restOfA.events.map((e) => e.type),
        ['user.updated', 'user.created'],
      );
      const created = await events.latest({ type: 'user.created', limit: 10 });
      assert.deepEqual(
        created.events.map((e) => e.subjectId),
        [b, a],
      );
    });

    test('a subject that is not a UUID, or a bad before, is a validation error naming it', async () => {
      for (const [read, pointer] of [
        () => events.feed({ subjectId: 'x', limit: 1 }),
        () => events.latest({ subjectId: "x' or 1=1 --", limit: 1 }),
        () => events.latest({ subjectId: a.toUpperCase(), limit: 1 }),
        () => events.latest({ before: '-1', limit: 1 }),
      ].map((read, i) => [read, i < 3 ? 'subject_id' : 'before'] as const)) {
        await assert.rejects(read, (error: unknown) => error instanceof ValidationError && error.errors.some((e) => e.pointer === pointer));
      }
    });
  });
}
