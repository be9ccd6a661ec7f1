// One owner of the users table: the same change through the API (create + merge patch), the
// import (upsert) and a mix of the two gives the same row, version and events, on SQLite and on
// PostgreSQL. A merge patch merges attributes (null removes a key); an import row replaces them
// (a row without attributes clears them): each case gives both spellings of one change.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../../src/db/database.js';
import type { UsersService } from '../../src/users/service.js';
import { usersServiceOver } from '../helpers/app.js';
import { pollFor } from '../helpers/server.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { importService, runImport } from '../imports/harness.js';

interface Input {
  readonly email: string;
  readonly name: string;
  readonly attributes?: Record<string, unknown>;
}

interface Case {
  readonly name: string;
  /** The user before the change; none for a new user. */
  readonly initial?: Input;
  /** The change as a merge patch (API). */
  readonly patch?: Record<string, unknown>;
  /** The same change as an import row (upsert replaces the user's fields). */
  readonly row: Input;
  readonly version: number;
  /** The `changed` of the user.updated event; undefined when nothing changes (no event). */
  readonly changed?: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'new user', row: { email: 'New@example.com', name: 'New', attributes: { a: 1 } }, version: 1 },
  {
    name: 'same values',
    initial: { email: 'same@example.com', name: 'Same', attributes: { a: 1, b: { c: [1, 2] } } },
    patch: { email: 'same@example.com', name: 'Same', attributes: { a: 1 } },
    row: { email: 'same@example.com', name: 'Same', attributes: { a: 1, b: { c: [1, 2] } } },
    version: 1,
  },
  {
    name: 'name differs only in surrounding spaces',
    initial: { email: 'spaces@example.com', name: 'Spaced' },
    patch: { name: '  Spaced ' },
    row: { email: 'spaces@example.com', name: '  Spaced ' },
    version: 1,
  },
  {
    name: 'name change',
    initial: { email: 'name@example.com', name: 'Before', attributes: { a: 1 } },
    patch: { name: 'After' },
    row: { email: 'name@example.com', name: 'After', attributes: { a: 1 } },
    version: 2,
    changed: ['name'],
  },
  {
    name: 'email case change',
    initial: { email: 'Case@Example.com', name: 'Case' },
    patch: { email: 'case@example.com' },
    row: { email: 'case@example.com', name: 'Case' },
    version: 2,
    changed: ['email'],
  },
  {
    name: 'attributes change',
    initial: { email: 'attrs@example.com', name: 'Attrs', attributes: { a: 1, b: 'x' } },
    patch: { attributes: { a: 2 } },
    row: { email: 'attrs@example.com', name: 'Attrs', attributes: { a: 2, b: 'x' } },
    version: 2,
    changed: ['attributes'],
  },
  {
    name: 'attributes the same in another key order',
    initial: { email: 'order@example.com', name: 'Order', attributes: { a: 1, b: 2, c: { x: 1, y: 'z' } } },
    patch: { attributes: { c: { y: 'z', x: 1 }, b: 2, a: 1 } },
    row: { email: 'order@example.com', name: 'Order', attributes: { c: { y: 'z', x: 1 }, b: 2, a: 1 } },
    version: 1,
  },
  {
    name: 'objects in an array the same in another key order',
    initial: { email: 'listed@example.com', name: 'Listed', attributes: { list: [{ p: 1, q: 2 }, 'x'] } },
    patch: { attributes: { list: [{ q: 2, p: 1 }, 'x'] } },
    row: { email: 'listed@example.com', name: 'Listed', attributes: { list: [{ q: 2, p: 1 }, 'x'] } },
    version: 1,
  },
  {
    name: 'nested attribute change',
    initial: { email: 'nested@example.com', name: 'Nested', attributes: { prefs: { theme: 'dark', lang: 'en' } } },
    patch: { attributes: { prefs: { lang: 'fr' } } },
    row: { email: 'nested@example.com', name: 'Nested', attributes: { prefs: { theme: 'dark', lang: 'fr' } } },
    version: 2,
    changed: ['attributes'],
  },
  {
    name: 'array order is a change',
    initial: { email: 'array@example.com', name: 'Array', attributes: { tags: ['a', 'b'] } },
    patch: { attributes: { tags: ['b', 'a'] } },
    row: { email: 'array@example.com', name: 'Array', attributes: { tags: ['b', 'a'] } },
    version: 2,
    changed: ['attributes'],
  },
  {
    name: 'attribute removed (null in a merge patch, left out of an import row)',
    initial: { email: 'removed@example.com', name: 'Removed', attributes: { keep: 1, drop: { x: 2 } } },
    patch: { attributes: { drop: null } },
    row: { email: 'removed@example.com', name: 'Removed', attributes: { keep: 1 } },
    version: 2,
    changed: ['attributes'],
  },
  {
    name: 'all attributes cleared (attributes: null, a row without attributes)',
    initial: { email: 'cleared@example.com', name: 'Cleared', attributes: { a: 1 } },
    patch: { attributes: null },
    row: { email: 'cleared@example.com', name: 'Cleared' },
    version: 2,
    changed: ['attributes'],
  },
  {
    name: 'every field at once',
    initial: { email: 'ALL@example.com', name: 'All', attributes: { n: 1 } },
    patch: { email: 'all@example.com', name: 'Everything', attributes: { n: 2 } },
    row: { email: 'all@example.com', name: 'Everything', attributes: { n: 2 } },
    version: 2,
    changed: ['email', 'name', 'attributes'],
  },
];

/** How the user is created, then how it is changed. */
const PATHS = ['api', 'import', 'api then import', 'import then api'] as const;
type Path = (typeof PATHS)[number];

/** Each (case, path) gets its own user: the emails carry a tag, replaced by TAG in what is compared. */
const tagged = <T extends { email?: unknown }>(input: T, tag: string): T =>
  typeof input.email === 'string' ? { ...input, email: input.email.replace('@', `+${tag}@`) } : input;

for (const [dialect, open, skip] of await dialects()) {
  describe(`one users table on ${dialect}: API, import and mixed paths agree`, { skip }, () => {
    let testDb: TestDatabase;
    let database: Database;
    let api: UsersService;
    before(async () => {
      testDb = await open();
      database = testDb.database;
      api = await usersServiceOver(database);
    });
    after(async () => testDb?.cleanup());

    const upsert = async (input: Input) => {
      const { job } = await runImport(importService(database), `${JSON.stringify(input)}\n`, { format: 'ndjson', mode: 'upsert' });
      assert.equal(job.status, 'succeeded', job.error ?? undefined);
      assert.equal(job.counts.failed, 0);
    };

    async function run(c: Case, path: Path, tag: string): Promise<string> {
      const row = tagged(c.row, tag);
      const createVia = path === 'api' || path === 'api then import' ? 'api' : 'import';
      const changeVia = path === 'api' || path === 'import then api' ? 'api' : 'import';
      let before: StoredUser | undefined;
      if (c.initial === undefined) {
        if (createVia === 'api') await api.create(row, undefined, { actor: 'test' });
        else await upsert(row);
      } else {
        const initial = tagged(c.initial, tag);
        if (createVia === 'api') await api.create(initial, undefined, { actor: 'test' });
        else await upsert(initial);
        before = await stored(database, initial.email);
        // Timestamps have millisecond precision: the change must come in a later millisecond to be seen.
        const storedAt = Date.parse(before.updatedAt);
        await pollFor('a later millisecond than the stored update', () => Date.now() > storedAt, { everyMs: 1 });
        if (changeVia === 'api') await api.update(before.id, tagged(c.patch ?? {}, tag), [1], { actor: 'test' });
        else await upsert(row);
      }
      const user = await stored(database, row.email);
      const events = await eventsOf(database, user.id);
      const outcome = {
        row: {
          ...user,
          id: 'ID',
          attributes: canonical(user.attributes),
          updatedAtMoved: before === undefined ? null : user.updatedAt !== before.updatedAt,
        },
        events,
      };
      assert.equal(user.version, c.version, `version (${path})`);
      if (before !== undefined) assert.equal(user.updatedAt !== before.updatedAt, c.changed !== undefined, `updated_at (${path})`);
      const updated = events.find((e) => e.type === 'user.updated');
      assert.deepEqual(updated?.data.changed, c.changed, `changed (${path})`);
      return JSON.stringify(outcome, (key, value: unknown) => (key === 'createdAt' || key === 'updatedAt' ? undefined : value)).replaceAll(
        `+${tag}@`,
        '+TAG@',
      );
    }

    for (const c of CASES) {
      test(c.name, async (t) => {
        const outcomes = new Map<Path, string>();
        for (const path of PATHS) {
          await t.test(path, async () => {
            outcomes.set(path, await run(c, path, `${path.replaceAll(' ', '-')}-${uuidv7().slice(-8)}`));
          });
        }
        assert.equal(outcomes.size, PATHS.length, 'every path ran');
        const expected = outcomes.get('api')!;
        for (const path of PATHS)
          assert.deepEqual(JSON.parse(outcomes.get(path)!), JSON.parse(expected), `${path} gives what the API gives`);
        results.set(`${dialect}: ${c.name}`, expected);
      });
    }
  });
}

/** What each dialect gave per case, for the comparison across dialects. */
const results = new Map<string, string>();

describe('SQLite and PostgreSQL agree', { skip: (await dialects()).some(([, , skip]) => skip !== undefined) }, () => {
  for (const c of CASES) {
    test(c.name, () => {
      const sqlite = results.get(`sqlite: ${c.name}`);
      const postgres = results.get(`postgres: ${c.name}`);
      assert.ok(sqlite !== undefined && postgres !== undefined, 'both dialects ran the case');
      assert.deepEqual(JSON.parse(postgres), JSON.parse(sqlite));
    });
  }
});

interface StoredUser {
  id: string;
  email: string;
  email_key: string;
  name: string;
  name_key: string;
  attributes: unknown;
  version: number;
  createdAt: string;
  updatedAt: string;
}

async function stored(database: Database, email: string): Promise<StoredUser> {
  const row = await database.db
    .selectFrom('users')
    .select(['id', 'email', 'email_key', 'name', 'name_key', 'attributes', 'version', 'created_at', 'updated_at'])
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  const { created_at, updated_at, ...rest } = row;
  return {
    ...rest,
    attributes: database.dialect.fromJson(row.attributes),
    createdAt: database.dialect.fromTime(created_at).toISOString(),
    updatedAt: database.dialect.fromTime(updated_at).toISOString(),
  };
}

interface EventSummary {
  type: string;
  actor: string | null;
  requestId: string | null;
  data: { user: Record<string, unknown>; changed?: string[]; previous?: Record<string, unknown> };
}

/** The user's events in order, with ids and times checked against the row and then left out. */
async function eventsOf(database: Database, userId: string): Promise<EventSummary[]> {
  const user = await database.db
    .selectFrom('users')
    .select(['created_at', 'updated_at'])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  const createdAt = database.dialect.fromTime(user.created_at).toISOString();
  const rows = await database.db.selectFrom('events').selectAll().where('subject_id', '=', userId).orderBy('seq').execute();
  return rows.map((row) => {
    const data = database.dialect.fromJson(row.data) as EventSummary['data'];
    const { id, created_at, updated_at, ...snapshot } = data.user as {
      id: string;
      created_at: string;
      updated_at: string;
      attributes: unknown;
    };
    assert.equal(id, userId, 'the snapshot is of the user');
    assert.equal(created_at, createdAt, 'the snapshot has the created_at of the row');
    assert.equal(updated_at, database.dialect.fromTime(row.occurred_at).toISOString(), 'the snapshot was taken when the event occurred');
    return {
      type: row.type,
      actor: row.actor,
      requestId: row.request_id,
      data: {
        ...data,
        user: { ...snapshot, attributes: canonical(snapshot.attributes) },
        ...(data.previous?.attributes === undefined
          ? {}
          : { previous: { ...data.previous, attributes: canonical(data.previous.attributes) } }),
      },
    };
  });
}

/** A JSON value with object keys sorted, recursively: PostgreSQL's jsonb keeps its own key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
