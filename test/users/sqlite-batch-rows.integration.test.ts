/**
 * A create batch encoded off the writing thread (users/sqlite-batch-rows.ts: its statements'
 * parameters) and written by SqliteUserBatchWriter.writeCreates() stores the same users and
 * events, byte for byte, as the same batch written by write(); a row that cannot go in gets the
 * same finding; and the encoding decodes back to the users it was made from.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { validProfile } from '../helpers/profiles.js';
import { SqliteUserBatchWriter } from '../../src/users/sqlite-batch-writer.js';
import { decodeCreates, encodeCreates } from '../../src/users/sqlite-batch-rows.js';
import type { BatchUser, UserBatchRun } from '../../src/users/batch-store.js';
import type { Attributes, Email, ExternalId, UserId, UserName } from '../../src/users/model.js';

const NOW = new Date('2026-12-06T21:30:00.123Z');
const RUN: UserBatchRun = {
  id: '019b0000-0000-7000-8000-00000000abcd',
  mode: 'create',
  events: true,
  context: { actor: 'key:k1', requestId: 'req-1' },
};

/** Ids in the order asked for: both paths ask for them in the same order (a user's, then its event's). */
function sequence(): { next: () => string; readonly calls: number } {
  let n = 0;
  return {
    next: () => `019b1111-0000-7000-8000-${(++n).toString(16).padStart(12, '0')}`,
    get calls() {
      return n;
    },
  };
}

// Any well-formed text without NUL, as the API's rules let through: escapes, U+2028, astral characters.
const text = fc
  .string({
    unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u2028', '\u001f', 'é'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
    maxLength: 24,
  })
  .filter((t) => t.isWellFormed() && !t.includes('\u0000'));
// Attributes are stored as JSON text: anything JSON carries, lone surrogates included.
const attributes = fc
  .dictionary(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
  .map((a) => JSON.parse(JSON.stringify(a)) as Attributes);
const batchUser = fc.record({
  id: fc.option(fc.uuid({ version: 7 }), { nil: undefined }),
  local: text,
  name: text,
  active: fc.boolean(),
  externalId: fc.option(
    text.filter((t) => t.length > 0),
    { nil: null },
  ),
  givenName: fc.option(text, { nil: null }),
  familyName: fc.option(text, { nil: null }),
  attributes,
  profile: validProfile,
  maybeDuplicate: fc.boolean(),
  markIfUnchanged: fc.boolean(),
});

/** Unique emails, ids and external ids, so every row of the batch goes in. */
type Row = typeof batchUser extends fc.Arbitrary<infer T> ? T : never;
function toBatch(rows: Row[]): BatchUser[] {
  return rows.map((r, i) => ({
    line: i + 2,
    user: {
      ...(r.id === undefined ? {} : { id: `${r.id.slice(0, 30)}${i.toString(16).padStart(6, '0')}` as UserId }),
      email: `${r.local}.${i}@example.com` as Email,
      name: r.name as UserName,
      active: r.active,
      externalId: r.externalId === null ? null : (`${r.externalId}#${i}` as ExternalId),
      givenName: r.givenName as UserName | null,
      familyName: r.familyName as UserName | null,
      attributes: r.attributes,
      profile: r.profile,
    },
    maybeDuplicate: r.maybeDuplicate,
    ...(r.markIfUnchanged ? { markIfUnchanged: true } : {}),
  }));
}

describe('a create batch encoded off the writing thread (SQLite)', () => {
  let encodedSide: TestDatabase;
  let rowSide: TestDatabase;
  before(async () => {
    encodedSide = await sqliteTestDatabase();
    rowSide = await sqliteTestDatabase();
  });
  after(async () => {
    await encodedSide?.cleanup();
    await rowSide?.cleanup();
  });

  const writer = (t: TestDatabase, newId: () => string, run: UserBatchRun = RUN) => {
    const { driver } = t.database;
    if (driver.kind !== 'sqlite') throw new Error('a SQLite test database');
    return new SqliteUserBatchWriter({ db: t.database.db, connection: driver.connection, run, newId, now: () => NOW });
  };
  const tables = (t: TestDatabase) => {
    const { driver } = t.database;
    if (driver.kind !== 'sqlite') throw new Error('a SQLite test database');
    return {
      users: driver.connection.prepare('select * from users order by id').raw().all(),
      events: driver.connection
        .prepare('select id, type, occurred_at, actor, request_id, subject_id, data from events order by seq')
        .raw()
        .all(),
    };
  };
  const clear = async () => {
    for (const t of [encodedSide, rowSide])
      for (const table of ['events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
  };
  const signal = new AbortController().signal;

  it('stores every user and event as the row-by-row path does, and decodes back to its users', async () => {
    for (const events of [true, false]) {
      const run = { ...RUN, events };
      await fc.assert(
        fc.asyncProperty(fc.array(batchUser, { minLength: 1, maxLength: 12 }), async (rows) => {
          await clear();
          const users = toBatch(rows);
          const encodedIds = sequence();
          const encoded = encodeCreates(users, { events, context: run.context }, encodedIds.next, NOW);
          const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
          assert.deepEqual(plain(decodeCreates(encoded)), plain(users));
          const writtenIds = sequence();
          const fast = await writer(encodedSide, writtenIds.next, run).writeCreates(encoded, () => {}, signal);
          const slow = await writer(rowSide, sequence().next, run).write(users, () => {}, signal);
          assert.deepEqual(fast, slow);
          assert.equal(fast.created, users.length);
          // The encoded rows carried every id: the writer made none.
          assert.equal(writtenIds.calls, 0);
          assert.deepEqual(tables(encodedSide), tables(rowSide));
        }),
        { numRuns: 60 },
      );
    }
  });

  it('a row that cannot go in gets the finding write() gives it, and the rows around it go in', async () => {
    await clear();
    const [taken, ...rest] = toBatch(fc.sample(batchUser, { numRuns: 4, seed: 15 }));
    for (const t of [encodedSide, rowSide]) await writer(t, sequence().next).write([taken!], () => {}, signal);
    // The second batch repeats the first one's email (a duplicate of this run: it wrote that user) between new users.
    const users: BatchUser[] = [rest[0]!, { ...taken!, line: 40, maybeDuplicate: true }, ...rest.slice(1)];
    const writtenIds = sequence();
    const encoding = { events: RUN.events, context: RUN.context };
    const fast = await writer(encodedSide, writtenIds.next).writeCreates(
      encodeCreates(users, encoding, sequence().next, NOW),
      () => {},
      signal,
    );
    const slow = await writer(rowSide, sequence().next).write(users, () => {}, signal);
    assert.deepEqual(fast, { created: 3, updated: 0, skipped: 0, findings: [{ line: 40, kind: 'duplicate' }] });
    assert.deepEqual(fast, slow);
    assert.equal(writtenIds.calls, 0);
    assert.equal(tables(encodedSide).users.length, 4);
    assert.equal(tables(encodedSide).events.length, 4);
  });
});
