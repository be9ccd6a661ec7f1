// The webhook dispatchers hear of an import's committed batches only when those batches wrote
// events (compose/imports.ts announcingCommits): every batch of a per-user import, none of a
// summary import or a dry run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { importServiceOptionsFor } from '../../src/compose/imports.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { importService, runImport } from './harness.js';

const csv = (prefix: string, rows: number) =>
  ['email,name', ...Array.from({ length: rows }, (_, i) => `${prefix}-${i}@example.com,${prefix} ${i}`)].join('\n') + '\n';

describe('announcing an import’s commits', () => {
  let t: TestDatabase;
  before(async () => {
    t = await sqliteTestDatabase();
  });
  after(async () => {
    await t?.cleanup();
  });

  const announced = async (prefix: string, overrides: Parameters<typeof runImport>[2]) => {
    let heard = 0;
    const { writerFor } = importServiceOptionsFor(t.database, { onEventsCommitted: () => heard++ });
    const result = await runImport(importService(t.database, { writerFor, batch: { maxRows: 10 } }), csv(prefix, 35), overrides);
    return { heard, result };
  };

  test('every batch of a per-user import is announced', async () => {
    const { heard, result } = await announced('per-user', { events: 'per-user' });
    assert.equal(result.job.counts.created, 35);
    assert.equal(heard, 4, '35 rows in batches of 10');
  });

  test('a summary import and a dry run announce no batch', async () => {
    const summary = await announced('summary', { events: 'summary' });
    assert.equal(summary.result.job.counts.created, 35);
    assert.equal(summary.heard, 0);
    const dry = await announced('dry', { events: 'per-user', dryRun: true });
    assert.equal(dry.heard, 0);
  });
});
