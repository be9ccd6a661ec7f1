import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WIRE_FIELD_NAMES, listedUserPageJson, userJson, userPageJson, withStoredText } from '../../src/users/document.js';
import { toUserDocument, type Attributes, type Email, type Profile, type User, type UserId, type UserName } from '../../src/users/model.js';
import { anyAttributes, anyText, anyUser } from './arbitrary-user.js';
import { fromUserRow, listedUserJsonOfRow, toUserRow, userJsonOfRow, type StoredUserColumns } from '../../src/users/sql-row.js';
import { postgresDialect, sqliteDialect, type SqlDialect } from '../../src/db/dialect.js';

/** The user as a SQLite row holds it and reads it back: attributes and times as stored text. */
function stored(u: User): User {
  return fromUserRow(toUserRow(u, sqliteDialect), sqliteDialect);
}

describe('userJson', () => {
  test('writes the document toUserDocument() gives, byte for byte, for any user', () => {
    fc.assert(
      fc.property(anyUser, (u) => {
        assert.equal(userJson(u), JSON.stringify(toUserDocument(u)));
      }),
    );
  });

  test('a user read from stored text is written from that text, and is the same document', () => {
    fc.assert(
      fc.property(anyUser, (u) => {
        const read = stored(u);
        assert.equal(userJson(read), JSON.stringify(toUserDocument(u)));
        // The lazily read fields are the user's own.
        assert.deepEqual(read.attributes, JSON.parse(JSON.stringify(u.attributes)));
        assert.equal(read.createdAt.getTime(), u.createdAt.getTime());
        assert.equal(read.updatedAt.getTime(), u.updatedAt.getTime());
      }),
    );
  });

  test('a row holding text is written to the same document without reading the user (userJsonOfRow)', () => {
    fc.assert(
      fc.property(anyUser, (u) => {
        assert.deepEqual(userJsonOfRow(toUserRow(u, sqliteDialect), sqliteDialect), {
          version: u.version,
          json: JSON.stringify(toUserDocument(u)),
        });
      }),
    );
  });

  const base: User = {
    id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' as UserId,
    email: 'a@b.co' as Email,
    name: 'A' as UserName,
    active: true,
    externalId: null,
    givenName: null,
    familyName: null,
    attributes: { b: 1, a: [true, null] } as unknown as Attributes,
    profile: { title: 'Engineer' } as Profile,
    version: 2,
    createdAt: new Date('2025-11-02T09:14:07.120Z'),
    updatedAt: new Date('2025-11-20T16:41:55.003Z'),
  };

  test('the stored text is spliced as it is (not serialized again)', () => {
    // Spaced as jsonb would write it: the splice is visible.
    const read = withStoredText(
      { ...base },
      {
        attributes: '{"b": 1, "a": [true, null]}',
        profile: '{"title": "Engineer"}',
        createdAt: '2025-11-02T09:14:07.120Z',
        updatedAt: '2025-11-20T16:41:55.003Z',
      },
    );
    assert.equal(
      userJson(read),
      '{"id":"01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21","email":"a@b.co","name":"A","given_name":null,"family_name":null,"external_id":null,"active":true,"attributes":{"b": 1, "a": [true, null]},"profile":{"title": "Engineer"},"version":2,"created_at":"2025-11-02T09:14:07.120Z","updated_at":"2025-11-20T16:41:55.003Z"}',
    );
    // Invisible to comparisons and spreads.
    assert.deepEqual(read, base);
    assert.deepEqual(Object.getOwnPropertySymbols({ ...read }), []);
  });

  test("stored text of another shape is not spliced: the user's values are written", () => {
    const read = withStoredText(
      { ...base },
      { attributes: 'null', profile: '[]', createdAt: '2025-11-02 09:14:07.12Z', updatedAt: '2025-11-20T16:41:55Z' },
    );
    assert.equal(userJson(read), JSON.stringify(toUserDocument(base)));
  });

  test('a user derived from a stored one by a spread carries its own values, not the stored text', () => {
    fc.assert(
      fc.property(anyUser, anyAttributes, anyText, (u, changed, name) => {
        const derived: User = { ...stored(u), name: name as UserName, attributes: changed, version: u.version + 1 };
        assert.equal(userJson(derived), JSON.stringify(toUserDocument(derived)));
        assert.deepEqual(JSON.parse(userJson(derived)).attributes, JSON.parse(JSON.stringify(changed)));
      }),
    );
  });

  test('writes exactly the fields of toUserDocument(), in its order', () => {
    fc.assert(
      fc.property(anyUser, (u) => {
        assert.deepEqual(WIRE_FIELD_NAMES, Object.keys(toUserDocument(u)));
      }),
      { numRuns: 5 },
    );
  });
});

describe('userPageJson', () => {
  test('writes { data, next_cursor } as JSON.stringify() would', () => {
    fc.assert(
      fc.property(fc.array(anyUser, { maxLength: 5 }), fc.option(anyText, { nil: null }), fc.boolean(), (users, cursor, fromRows) => {
        const page = fromRows ? users.map(stored) : users;
        assert.equal(userPageJson(page, cursor), JSON.stringify({ data: users.map(toUserDocument), next_cursor: cursor }));
      }),
    );
  });
});

describe('listedUserPageJson', () => {
  /**
   * The user's row as a store reads it: SQLite's text (spliced), or PostgreSQL's row as pg parses
   * it by default (Dates, parsed jsonb: not text, so the user is read and written).
   */
  const rowOf = (u: User, fromSqlite: boolean): [StoredUserColumns, SqlDialect] =>
    fromSqlite
      ? [toUserRow(u, sqliteDialect), sqliteDialect]
      : [{ ...toUserRow(u, postgresDialect), attributes: u.attributes, profile: u.profile }, postgresDialect];

  test('a page written from rows (listedUserJsonOfRow) is, byte for byte, userPageJson() of the users they hold', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyUser, fc.boolean()), { maxLength: 5 }), fc.option(anyText, { nil: null }), (entries, cursor) => {
        const users = entries.map(([u]) => u);
        const rows = entries.map(([u, fromSqlite]) => rowOf(u, fromSqlite));
        const listed = rows.map(([row, dialect]) => listedUserJsonOfRow(row, dialect));
        assert.deepEqual(
          listed.map((l) => l.id),
          users.map((u) => u.id),
        );
        const page = listedUserPageJson(listed, cursor);
        assert.equal(page, userPageJson(users, cursor));
        assert.equal(
          page,
          userPageJson(
            rows.map(([row, dialect]) => fromUserRow(row, dialect)),
            cursor,
          ),
        );
        assert.equal(page, JSON.stringify({ data: users.map(toUserDocument), next_cursor: cursor }));
      }),
    );
  });
});
