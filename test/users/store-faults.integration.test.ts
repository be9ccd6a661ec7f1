// Injected database failures must surface as UnavailableError (a 503), never as a raw driver error.
import { PROVISIONING_DEFAULTS } from '../../src/users/model.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase } from '../../src/db/database.js';
import { UnavailableError } from '../../src/kit/errors.js';
import type { Email, User, UserId, UserName, Attributes } from '../../src/users/model.js';
import { userStoreFor } from '../../src/compose/users.js';
import { sqliteTestDatabase } from '../helpers/databases.js';
import { created } from '../helpers/events.js';

function user(): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `f-${uuidv7()}@example.com` as Email,
    name: 'F' as UserName,
    attributes: {} as Attributes,
    ...PROVISIONING_DEFAULTS,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

test('PostgreSQL refusing connections is UnavailableError', async () => {
  const database = openDatabase('postgres://postgres@127.0.0.1:1/test');
  try {
    const store = userStoreFor(database);
    await assert.rejects(store.get(uuidv7() as UserId), (error: unknown) => error instanceof UnavailableError && error.cause !== undefined);
    await assert.rejects(database.ping(2000));
  } finally {
    await database.close();
  }
});

test('SQLite write lock held by another process past the busy timeout is UnavailableError', async () => {
  const testDb = await sqliteTestDatabase();
  const busyDb = openDatabase(testDb.url, { sqliteBusyTimeoutMs: 50 });
  const other = new SQLite(testDb.url);
  try {
    other.exec('BEGIN IMMEDIATE');
    const store = userStoreFor(busyDb);
    const fresh = user();
    await assert.rejects(store.create(fresh, undefined, created(fresh)), UnavailableError);
    other.exec('ROLLBACK');
    await store.create(fresh, undefined, created(fresh));
  } finally {
    other.close();
    await busyDb.close();
    await testDb.cleanup();
  }
});

test('a closed SQLite handle is UnavailableError', async () => {
  const testDb = await sqliteTestDatabase();
  const store = userStoreFor(testDb.database);
  await testDb.cleanup();
  await assert.rejects(store.get(uuidv7() as UserId), UnavailableError);
});
