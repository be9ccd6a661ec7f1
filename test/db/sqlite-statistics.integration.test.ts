// Opening a SQLite file drops ANALYZE's STAT4 samples (db/database.ts dropSampleStatistics): with
// them, every statement whose plan consults the samples is prepared anew on every run. A file
// locked by another process past the busy timeout keeps its samples and opens all the same.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.js';

interface Warning {
  fields: Record<string, unknown>;
  message: string;
}

/** A file ANALYZE has run on, as an operator (or a tool) might leave it. */
function analyzedFile(file: string): void {
  const connection = new BetterSqlite3(file);
  try {
    connection.pragma('journal_mode = WAL'); // as Roster leaves its files: readers go on beside a writer
    connection.exec('create table things (id integer primary key, name text not null)');
    connection.exec('create index things_name on things (name)');
    const insert = connection.prepare('insert into things (name) values (?)');
    connection.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(`name-${i % 37}`);
    })();
    connection.exec('analyze');
  } finally {
    connection.close();
  }
}

function statisticsTables(file: string): string[] {
  const connection = new BetterSqlite3(file, { readonly: true });
  try {
    const rows = connection.prepare("select name from sqlite_schema where name like 'sqlite_stat%' order by name").all() as {
      name: string;
    }[];
    return rows.map((row) => row.name);
  } finally {
    connection.close();
  }
}

describe('SQLite ANALYZE samples at open', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(os.tmpdir(), 'roster-stat4-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('an analyzed file loses sqlite_stat4 (and keeps sqlite_stat1) when opened, with one warning', async () => {
    const file = join(dir, 'analyzed.db');
    analyzedFile(file);
    assert.deepEqual(statisticsTables(file), ['sqlite_stat1', 'sqlite_stat4'], 'ANALYZE wrote the samples the test starts from');
    const warnings: Warning[] = [];
    const database = openDatabase(file, { warn: (fields, message) => warnings.push({ fields, message }) });
    try {
      const { rows } = await sql<{ n: number }>`select count(*) as n from things`.execute(database.db);
      assert.equal(rows[0]?.n, 500);
    } finally {
      await database.close();
    }
    assert.deepEqual(statisticsTables(file), ['sqlite_stat1']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /dropped sqlite_stat4/);
    assert.equal(warnings[0]!.fields.err, undefined);

    const again: Warning[] = [];
    const reopened = openDatabase(file, { warn: (fields, message) => again.push({ fields, message }) });
    await reopened.close();
    assert.deepEqual(again, [], 'a file without samples opens silently');
  });

  test('a file locked by another process past the busy timeout keeps its samples, opens, and warns with the cause', async () => {
    const file = join(dir, 'locked.db');
    analyzedFile(file);
    const other = new BetterSqlite3(file);
    other.exec('begin immediate');
    const warnings: Warning[] = [];
    try {
      const database = openDatabase(file, { sqliteBusyTimeoutMs: 20, warn: (fields, message) => warnings.push({ fields, message }) });
      try {
        const { rows } = await sql<{ n: number }>`select count(*) as n from things`.execute(database.db);
        assert.equal(rows[0]?.n, 500, 'reads work while the samples stay');
      } finally {
        await database.close();
      }
    } finally {
      other.exec('rollback');
      other.close();
    }
    assert.deepEqual(statisticsTables(file), ['sqlite_stat1', 'sqlite_stat4']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /could not drop sqlite_stat4/);
    assert.match(String((warnings[0]!.fields.err as Error).message), /locked|busy/i);
  });
});
