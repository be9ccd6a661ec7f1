/**
 * On PostgreSQL an import holds one pooled connection for its run and, after each batch, waits
 * for the numbering pass, which takes another. Config validation (config.ts) demands
 * ROSTER_IMPORT_CONCURRENCY + 1 connections; this proves that pool enough, on a real server:
 * every batch's events are numbered before the next batch, and other queries on the pool (the
 * count after each batch) still get a connection meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { loadConfig, ConfigError } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { count, importService, runImport } from './harness.js';

const skip = await postgresUnavailable();

describe('PostgreSQL: the smallest pool config accepts, with an import running', { skip }, () => {
  let t: TestDatabase;
  let small: Database | undefined;
  before(async () => {
    t = await postgresTestDatabase();
  });
  after(async () => {
    await small?.close();
    await t?.cleanup();
  });

  it('config refuses one connection per import, and with one more the import numbers its events batch by batch', async () => {
    const env = { ROSTER_DATABASE_URL: t.url, ROSTER_IMPORT_CONCURRENCY: '1' };
    assert.throws(() => loadConfig({ ...env, ROSTER_DB_POOL_SIZE: '1' }), ConfigError);
    const config = loadConfig({ ...env, ROSTER_DB_POOL_SIZE: '2' });
    small = openDatabase(config.database.url, { poolSize: config.database.poolSize });
    const database = small;
    const rows = 1_200;
    const text = ['email,name', ...Array.from({ length: rows }, (_, i) => `pool-${i}@example.com,Pool ${i}`)].join('\n');
    // Small batches: a dozen numbering passes, each while the import holds its connection.
    const service = importService(database, { batch: { maxRows: 100 } });
    const numberedAfterBatches: number[] = [];
    const done = runImport(service, text, {}, { onCommitted: async () => void numberedAfterBatches.push(await numbered(database)) });
    const { job } = await done;
    assert.equal(job.status, 'succeeded', String(job.status));
    assert.equal(job.counts.created, rows);
    assert.equal(await count(database, 'events', sql`seq is null`), 0);
    assert.equal(await count(database, 'events', sql`seq is not null`), rows);
    // Numbered as the import went, not only at its end (a stalled pass would leave them null).
    assert.ok(numberedAfterBatches.length >= 2, `batches committed ${numberedAfterBatches.length} times`);
    const seen = numberedAfterBatches.join(', ');
    assert.ok(numberedAfterBatches[0]! > 0 && numberedAfterBatches[0]! < rows, `numbered events seen after each batch: ${seen}`);
    assert.ok(
      numberedAfterBatches.every((n, i) => i === 0 || n > numberedAfterBatches[i - 1]!),
      `numbered events seen after each batch: ${seen}`,
    );
  });
});

async function numbered(database: Database): Promise<number> {
  return count(database, 'events', sql`seq is not null`);
}
