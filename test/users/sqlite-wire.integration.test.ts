/**
 * users/sqlite-wire.ts: SQLite writes a user's wire document from its row, for GET by id. It must
 * be the document the JavaScript writer gives (JSON.stringify(toUserDocument(user))) byte for
 * byte, and NULL wherever that writer would not splice the row's text.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type SQLite from 'better-sqlite3';
import { sqliteDialect } from '../../src/db/dialect.js';
import { toUserDocument, type User } from '../../src/users/model.js';
import { insertValues, INSERT_COLUMNS, SQLITE_INSERT_PLACEHOLDERS, toUserRow } from '../../src/users/sql-row.js';
import { SQLITE_USER_JSON_COLUMNS } from '../../src/users/sqlite-wire.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { anyUser } from './arbitrary-user.js';

// SQLite keeps text as UTF-8, which cannot hold a lone surrogate; the API's rules refuse them in
// every text field, and attributes reach the row as JSON.stringify()'s ASCII escapes.
const storableUser = anyUser.filter((u) =>
  [u.id, u.email, u.name, u.externalId ?? '', u.givenName ?? '', u.familyName ?? ''].every((t) => t.isWellFormed()),
);

describe('SQLite writes the wire document from the row (users/sqlite-wire.ts)', () => {
  let t: TestDatabase;
  let connection: SQLite.Database;
  before(async () => {
    t = await sqliteTestDatabase();
    const { driver } = t.database;
    if (driver.kind !== 'sqlite') throw new Error('a SQLite test database');
    connection = driver.connection;
  });
  after(() => t?.cleanup());
  beforeEach(() => connection.exec('delete from users'));

  const read = (id: string) =>
    connection.prepare(`select ${SQLITE_USER_JSON_COLUMNS} from users where id = ?`).raw(true).get(id) as [number, string | null];
  const insert = (user: User) =>
    connection
      .prepare(`insert into users (${INSERT_COLUMNS}) values (${SQLITE_INSERT_PLACEHOLDERS})`)
      .run(...insertValues(toUserRow(user, sqliteDialect)));

  it('json_quote() escapes every character as JSON.stringify() does', () => {
    const quote = connection.prepare('select json_quote(?)').pluck();
    for (let code = 0; code <= 0x10ffff; code += code < 0x10000 ? 1 : 97) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      const text = `a${String.fromCodePoint(code)}"\\`;
      assert.equal(quote.get(text), JSON.stringify(text), `U+${code.toString(16)}`);
    }
  });

  it("gives any stored user's document, byte for byte, and its version", () => {
    fc.assert(
      fc.property(storableUser, (user) => {
        connection.exec('delete from users');
        insert(user);
        assert.deepEqual(read(user.id), [user.version, JSON.stringify(toUserDocument(user))]);
      }),
      { numRuns: 500 },
    );
  });

  it('gives NULL for a row whose text the JavaScript writer would not splice', () => {
    const [user] = fc.sample(storableUser, { numRuns: 1, seed: 3 });
    const farFuture = { ...user!, createdAt: new Date('+010000-01-01T00:00:00.000Z') };
    insert(farFuture);
    assert.deepEqual(read(farFuture.id), [farFuture.version, null]);
    for (const [column, text] of [
      ['attributes', '[]'],
      ['profile', 'null'],
      ['updated_at', '2026-12-07 06:00:00'],
    ] as const) {
      connection.exec('delete from users');
      insert(user!);
      connection.prepare(`update users set ${column} = ? where id = ?`).run(text, user!.id);
      assert.deepEqual(read(user!.id), [user!.version, null], column);
    }
  });
});
