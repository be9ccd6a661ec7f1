// The webhook dispatchers hear of an import's commits only when they wrote events
// (compose/imports.ts): every batch of a per-user import; of a summary import, only the end of the
// run that appends its summary event; nothing of a dry run.
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
    const { jobs, writerFor } = importServiceOptionsFor(t.database, { onEventsCommitted: () => heard++ });
    const result = await runImport(importService(t.database, { jobs, writerFor, batch: { maxRows: 10 } }), csv(prefix, 35), overrides);
    return { heard, result };
  };

  test('every batch of a per-user import is announced', async () => {
    const { heard, result } = await announced('per-user', { events: 'per-user' });
    assert.equal(result.job.counts.created, 35);
    assert.equal(heard, 4, '35 rows in batches of 10');
  });

  test('a summary import announces its summary event only; a dry run announces nothing', async () => {
    const summary = await announced('summary', { events: 'summary' });
    assert.equal(summary.result.job.counts.created, 35);
    assert.equal(summary.heard, 1, 'the commit that appended the users.imported event, no batch');
    const dry = await announced('dry', { events: 'per-user', dryRun: true });
    assert.equal(dry.heard, 0);
  });
});
