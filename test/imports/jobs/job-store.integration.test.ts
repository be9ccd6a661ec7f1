// The import job store stops before its work once the caller's signal aborted (a request that
// went away, or passed its deadline), as every store does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { SqlImportJobStore } from '../../../src/imports/jobs/sql-job-store.js';
import { sqliteTestDatabase } from '../../helpers/databases.js';
import { spec } from '../harness.js';

test('an aborted signal stops every import job store call before it reaches the database', async () => {
  const testDb = await sqliteTestDatabase();
  try {
    const jobs = new SqlImportJobStore(testDb.database.db, testDb.database.dialect);
    const aborted = AbortSignal.abort(new Error('the request went away'));
    const refused = { message: 'the request went away' };
    const now = new Date();
    const later = new Date(now.getTime() + 60_000);
    const id = uuidv7();
    await assert.rejects(jobs.create(id, spec(), now, aborted), refused);
    assert.equal(await jobs.get(id), undefined, 'nothing was written');
    await jobs.create(id, spec(), now);
    await assert.rejects(jobs.get(id, aborted), refused);
    await assert.rejects(jobs.listByStatus(['pending'], aborted), refused);
    await assert.rejects(jobs.listUnfinishedUploads(aborted), refused);
    await assert.rejects(jobs.claim(id, 'me', now, later, {}, aborted), refused);
    assert.equal((await jobs.get(id))?.leaseOwner, undefined, 'not claimed');
    assert.ok(await jobs.claim(id, 'me', now, later));
    await assert.rejects(jobs.renew(id, 'me', later, aborted), refused);
    await assert.rejects(jobs.markRunning(id, 'me', now, aborted), refused);
    await assert.rejects(jobs.suspend(id, 'me', now, undefined, aborted), refused);
    await assert.rejects(jobs.finish(id, 'me', 'failed', 'x', now, undefined, aborted), refused);
    await assert.rejects(jobs.release(id, 'me', aborted), refused);
    const job = await jobs.get(id);
    assert.equal(job?.status, 'pending');
    assert.equal(job?.leaseOwner, 'me', 'still held: nothing was released');
  } finally {
    await testDb.cleanup();
  }
});
