// The scale bench loads its users through Roster's batch writers (bench/scale-load.ts). When
// NewUser gained the provisioning fields, the loader's cast hid them and the PostgreSQL load
// failed on its first COPY ("invalid input syntax for type boolean: undefined"): these load a
// few hundred users into each database and read them back as the generator made them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import { loadPostgres, loadSqlite } from '../../bench/scale-load.js';
import { scaleUser } from '../../bench/scale-data.js';
import { POSTGRES_URL, postgresUnavailable, withDatabase } from '../helpers/databases.js';

const SEED = 7;
const USERS = 321;

interface Row {
  id: string;
  email: string;
  name: string;
  active: boolean | number;
  external_id: string | null;
  attributes: string | Record<string, unknown>;
}
const SELECT = 'select id, email, name, active, external_id, attributes from users order by id';

/** Every row is the generated user of its index, active, with no external id. */
function assertLoaded(rows: Row[]): void {
  assert.equal(rows.length, USERS);
  rows.forEach((row, i) => {
    const made = scaleUser(SEED, i);
    assert.deepEqual(
      {
        id: row.id,
        email: row.email,
        name: row.name,
        active: Boolean(row.active),
        external_id: row.external_id,
        attributes: typeof row.attributes === 'string' ? JSON.parse(row.attributes) : row.attributes,
      },
      { id: made.id, email: made.email, name: made.name, active: true, external_id: null, attributes: made.attributes },
    );
  });
}

describe('the scale bench loader', () => {
  test('SQLite: every generated user, as generated; a second load at the same size is reused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-scale-load-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'scale.db');
    assert.notEqual((await loadSqlite(file, SEED, USERS, false)).seconds, undefined);
    const db = new Database(file, { readonly: true });
    try {
      assertLoaded(db.prepare(SELECT).all() as Row[]);
    } finally {
      db.close();
    }
    assert.equal((await loadSqlite(file, SEED, USERS, false)).seconds, undefined);
  });

  test('PostgreSQL: every generated user, as generated', async (t) => {
    const skip = await postgresUnavailable();
    if (skip !== undefined) return t.skip(skip);
    const name = `roster_scale_test_${process.pid}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    after(async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    });
    await loadPostgres(POSTGRES_URL, name, SEED, USERS, false);
    const client = new pg.Client({ connectionString: withDatabase(POSTGRES_URL, name) });
    await client.connect();
    try {
      assertLoaded((await client.query<Row>(SELECT)).rows);
    } finally {
      await client.end();
    }
  });
});
