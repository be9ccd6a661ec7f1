// Database outages in the API key store surface as UnavailableError (a 503), as in the users store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { openDatabase } from '../../src/db/database.js';
import { UnavailableError } from '../../src/kit/errors.js';
import { sqliteTestDatabase } from '../helpers/databases.js';

/** A stored key as the store takes it; no test here reaches the point of using its secret. */
function keyRecord() {
  return {
    id: '0123456789abcdef',
    name: 'k',
    scopes: ['admin' as const],
    secretHash: '00'.repeat(32),
    createdAt: new Date(),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
  };
}

test('every API key store call on a closed handle is UnavailableError', async () => {
  const testDb = await sqliteTestDatabase();
  const store = new SqlApiKeyStore(testDb.database.db, testDb.database.dialect);
  await testDb.cleanup();
  const record = keyRecord();
  await assert.rejects(store.insert(record), UnavailableError);
  await assert.rejects(store.get(record.id), UnavailableError);
  await assert.rejects(store.list(), UnavailableError);
  await assert.rejects(store.revoke(record.id, new Date()), UnavailableError);
  await assert.rejects(store.touch(record.id, new Date()), UnavailableError);
  await assert.rejects(store.insertBootstrapKey(record), UnavailableError);
});

test('PostgreSQL refusing connections is UnavailableError for API keys too', async () => {
  const database = openDatabase('postgres://postgres@127.0.0.1:1/test');
  try {
    await assert.rejects(new SqlApiKeyStore(database.db, database.dialect).list(), UnavailableError);
  } finally {
    await database.close();
  }
});

test('an aborted signal stops every API key store call before it reaches the database', async () => {
  const testDb = await sqliteTestDatabase();
  try {
    const store = new SqlApiKeyStore(testDb.database.db, testDb.database.dialect);
    const record = keyRecord();
    const aborted = AbortSignal.abort(new Error('the request went away'));
    const refused = { message: 'the request went away' };
    await assert.rejects(store.insert(record, aborted), refused);
    await assert.rejects(store.insertBootstrapKey(record, aborted), refused);
    assert.deepEqual(await store.list(), [], 'nothing was written');
    await store.insert(record);
    await assert.rejects(store.get(record.id, aborted), refused);
    await assert.rejects(store.list(aborted), refused);
    await assert.rejects(store.revoke(record.id, new Date(), aborted), refused);
    await assert.rejects(store.touch(record.id, new Date(), aborted), refused);
    assert.equal((await store.get(record.id))?.revokedAt, null, 'not revoked');
  } finally {
    await testDb.cleanup();
  }
});
