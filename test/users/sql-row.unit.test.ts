import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresDialect, sqliteDialect } from '../../src/db/dialect.js';
import { userJson } from '../../src/users/document.js';
import {
  toUserDocument,
  type Attributes,
  type Email,
  type ExternalId,
  type Profile,
  type User,
  type UserId,
  type UserName,
} from '../../src/users/model.js';
import {
  INSERT_COLUMNS,
  SQLITE_INSERT_PLACEHOLDERS,
  SQLITE_UPDATE_ASSIGNMENTS,
  USER_COLUMNS,
  USER_READ_COLUMNS,
  USER_ROW_COLUMNS,
  fromUserRow,
  insertValues,
  listedUserJsonOfRow,
  postgresAssignments,
  postgresInsertParams,
  storedUserColumnsOf,
  toUserRow,
  updateValues,
  userJsonOfRow,
  type StoredUserColumns,
} from '../../src/users/sql-row.js';

const user: User = {
  id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' as UserId,
  email: 'Ada@Example.com' as Email,
  name: 'Ada Lovelace' as UserName,
  active: false,
  externalId: 'ext-1' as ExternalId,
  givenName: 'Ada' as UserName,
  familyName: 'Lovelace' as UserName,
  attributes: { team: 'engines', level: 3 } as unknown as Attributes,
  profile: { title: 'Analyst' } as Profile,
  version: 4,
  createdAt: new Date('2025-11-02T09:14:07.120Z'),
  updatedAt: new Date('2025-11-20T16:41:55.003Z'),
};

const split = (list: string) => list.split(', ');

// The user's row as pg gives it by default (Dates, parsed jsonb) and as a statement read with
// timesAndJsonAsText() gives it (PostgreSQL's text): both read back as the same user and document.
const parsed = { ...toUserRow(user, postgresDialect), attributes: user.attributes, profile: user.profile };
const asText = {
  ...parsed,
  attributes: '{"team": "engines", "level": 3}',
  profile: '{"title": "Analyst"}',
  created_at: '2025-11-02 09:14:07.12+00',
  updated_at: '2025-11-20 16:41:55.003+00',
};

describe('the users column table', () => {
  for (const dialect of [sqliteDialect, postgresDialect]) {
    test(`names every column toUserRow() writes, once (${dialect.name})`, () => {
      const row = toUserRow(user, dialect);
      assert.deepEqual([...USER_ROW_COLUMNS].sort(), Object.keys(row).sort());
      assert.deepEqual(split(INSERT_COLUMNS), USER_ROW_COLUMNS);
    });

    test(`insertValues() follows INSERT_COLUMNS and updateValues() the assignments (${dialect.name})`, () => {
      const row = toUserRow(user, dialect);
      assert.deepEqual(
        insertValues(row),
        split(INSERT_COLUMNS).map((name) => row[name as keyof typeof row]),
      );
      const assigned = split(SQLITE_UPDATE_ASSIGNMENTS).map((a) => a.replace(' = ?', ''));
      assert.deepEqual(
        updateValues(row),
        assigned.map((name) => row[name as keyof typeof row]),
      );
      // A change never rewrites the id or the creation time.
      assert.ok(!assigned.includes('id') && !assigned.includes('created_at'));
    });

    test(`the select list reads back the user that was written (${dialect.name})`, () => {
      const row = toUserRow(user, dialect) as unknown as Record<string, unknown>;
      const selected = Object.fromEntries(split(USER_COLUMNS).map((name) => [name, row[name]])) as unknown as StoredUserColumns;
      assert.deepEqual(fromUserRow(selected, dialect), user);
    });
  }

  test('storedUserColumnsOf() reads each column at its place in USER_COLUMNS', () => {
    assert.deepEqual(USER_READ_COLUMNS, split(USER_COLUMNS));
    // Each column's own name as its value: every property must hold the name it is called by.
    const named = storedUserColumnsOf(USER_READ_COLUMNS) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(named), [...USER_READ_COLUMNS]);
    for (const [name, value] of Object.entries(named)) assert.equal(value, name);
  });

  test('a SQLite row read as values (raw mode) is the same user as read as an object', () => {
    const row = toUserRow(user, sqliteDialect) as unknown as Record<string, unknown>;
    const values = USER_READ_COLUMNS.map((name) => row[name]);
    const fromValues = fromUserRow(storedUserColumnsOf(values), sqliteDialect);
    assert.deepEqual(fromValues, user);
    assert.equal(userJson(fromValues), JSON.stringify(toUserDocument(user)));
  });

  test('a PostgreSQL row as parsed values or as text is the same user', () => {
    assert.deepEqual(fromUserRow(parsed, postgresDialect), user);
    assert.deepEqual(fromUserRow(asText, postgresDialect), user);
    assert.deepEqual(JSON.parse(userJson(fromUserRow(asText, postgresDialect))), JSON.parse(JSON.stringify(toUserDocument(user))));
    assert.match(userJson(fromUserRow(asText, postgresDialect)), /"attributes":\{"team": "engines", "level": 3\}/);
  });

  test('userJsonOfRow() and listedUserJsonOfRow() write the document userJson() writes of the user read, for every shape of row', () => {
    const sqlite = toUserRow(user, sqliteDialect);
    // Text of a shape that is not spliced (a time without its milliseconds): the user is read and written.
    const oddTime = { ...sqlite, created_at: '2025-11-02T09:14:07Z' };
    const cases: [StoredUserColumns, typeof sqliteDialect][] = [
      [sqlite, sqliteDialect],
      [parsed, postgresDialect],
      [asText, postgresDialect],
      [oddTime, sqliteDialect],
    ];
    for (const [row, dialect] of cases) {
      assert.deepEqual(userJsonOfRow(row, dialect), { version: 4, json: userJson(fromUserRow(row, dialect)) });
      // A listed page's user: the same document, with the id its cursor is made from.
      assert.deepEqual(listedUserJsonOfRow(row, dialect), { id: user.id, json: userJsonOfRow(row, dialect).json });
    }
    // The stored text is what goes out where it splices.
    assert.match(userJsonOfRow(asText, postgresDialect).json, /"attributes":\{"team": "engines", "level": 3\}/);
    assert.match(userJsonOfRow(oddTime, sqliteDialect).json, /"created_at":"2025-11-02T09:14:07.000Z"/);
  });

  test('placeholders and typed parameters match the columns in number and order', () => {
    assert.equal(split(SQLITE_INSERT_PLACEHOLDERS).length, USER_ROW_COLUMNS.length);
    assert.equal(
      postgresInsertParams(1),
      '$1::uuid, $2::text, $3::text, $4::text, $5::text, $6::boolean, $7::text, $8::text, $9::text, $10::jsonb, $11::jsonb, ' +
        '$12::integer, $13::timestamptz, $14::timestamptz',
    );
    assert.equal(
      postgresAssignments(2),
      'email = $2::text, email_key = $3::text, name = $4::text, name_key = $5::text, active = $6::boolean, external_id = $7::text, ' +
        'given_name = $8::text, family_name = $9::text, attributes = $10::jsonb, profile = $11::jsonb, version = $12::integer, ' +
        'updated_at = $13::timestamptz',
    );
  });
});
