// Integration tests for ApiKeysService over the real SQL store, on SQLite and PostgreSQL: what is
// stored, when last_used_at is written, revocation and expiry, and the one-time bootstrap key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { Authenticator } from '../../src/auth/authenticator.js';
import { UnauthenticatedError, ApiKeyNotFoundError } from '../../src/auth/errors.js';
import { parseKey } from '../../src/auth/keys.js';
import { ApiKeysService, type ApiKeyRecord, type ApiKeyStore } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { ValidationError } from '../../src/kit/errors.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { sleep, within } from '../helpers/server.js';

/** A clock the test moves by hand. */
class Clock {
  ms = Date.parse('2100-01-01T00:00:00.000Z');
  now = () => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** The real store, counting reads of a key and writes of last_used_at. */
class CountingStore implements ApiKeyStore {
  touches: { id: string; at: Date }[] = [];
  reads = 0;
  constructor(private readonly inner: ApiKeyStore) {}
  insert(record: ApiKeyRecord) {
    return this.inner.insert(record);
  }
  get(id: string) {
    this.reads++;
    return this.inner.get(id);
  }
  list() {
    return this.inner.list();
  }
  revoke(id: string, at: Date) {
    return this.inner.revoke(id, at);
  }
  touch(id: string, at: Date) {
    this.touches.push({ id, at });
    return this.inner.touch(id, at);
  }
  insertBootstrapKey(record: ApiKeyRecord) {
    return this.inner.insertBootstrapKey(record);
  }
}

async function rejectsUnauthenticated(promise: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UnauthenticatedError, `${what}: ${String(error)}`);
    assert.equal(error.message, 'The credentials are not valid.', `${what}: one message for every failure`);
    return true;
  });
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`ApiKeysService on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let db: Database;
    before(async () => {
      testDb = await open();
      db = testDb.database;
    });
    after(async () => testDb?.cleanup());

    const service = (options: { now?: () => Date; cacheTtlMs?: number; store?: ApiKeyStore } = {}) =>
      new ApiKeysService({
        store: options.store ?? new SqlApiKeyStore(db.db, db.dialect),
        cacheTtlMs: options.cacheTtlMs ?? 0,
        ...(options.now ? { now: options.now } : {}),
      });

    test('only SHA-256 of the secret is stored; the plaintext appears nowhere in api_keys', async () => {
      const { record, plaintext } = await service().create({ name: 'stored', scopes: ['users:read'] });
      const secret = parseKey(plaintext)!.secret;
      const rows = (await sql<Record<string, unknown>>`select * from api_keys`.execute(db.db)).rows;
      const row = rows.find((r) => r.id === record.id);
      assert.ok(row, 'the key has a row');
      assert.equal(row.secret_hash, createHash('sha256').update(secret).digest('hex'));
      const dump = JSON.stringify(rows);
      assert.equal(dump.includes(plaintext), false, 'the full key is not stored');
      assert.equal(dump.includes(secret), false, 'the secret is not stored');
      const meta = JSON.stringify((await sql`select * from roster_meta`.execute(db.db)).rows);
      assert.equal(meta.includes(secret), false);
    });

    test('create validates name, scopes and lifetime, reporting every field', async () => {
      await assert.rejects(service().create({ name: '', scopes: ['nope'], expiresInSeconds: -1 }), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(error.errors.map((e) => e.pointer).sort(), ['/expires_in_seconds', '/name', '/scopes/0']);
        return true;
      });
      await assert.rejects(service().create({ name: 'x', scopes: 'admin' }), ValidationError);
      await assert.rejects(service().create({ name: 'x', scopes: [] }), ValidationError);
      await assert.rejects(service().create({ name: 'x', scopes: [{}] }), ValidationError);
    });

    test('authenticate: the principal carries the key id as actor and exactly its scopes', async () => {
      const keys = service();
      const { record, plaintext } = await keys.create({ name: 'p', scopes: ['users:read', 'users:write'] });
      const principal = await keys.authenticate(plaintext);
      assert.equal(principal.actor, `key:${record.id}`);
      assert.equal(principal.kind, 'api_key');
      assert.deepEqual([...principal.scopes].sort(), ['users:read', 'users:write']);
    });

    test('authenticate refuses wrong secrets, unknown ids and malformed keys alike', async () => {
      const keys = service();
      const { plaintext } = await keys.create({ name: 'w', scopes: ['admin'] });
      const id = parseKey(plaintext)!.id;
      await rejectsUnauthenticated(keys.authenticate(`rk_${id}_${'A'.repeat(43)}`), 'wrong secret');
      await rejectsUnauthenticated(keys.authenticate(`rk_ffffffffffffffff_${parseKey(plaintext)!.secret}`), 'unknown id');
      await rejectsUnauthenticated(keys.authenticate('rk_short'), 'malformed');
      await rejectsUnauthenticated(keys.authenticate(''), 'empty');
    });

    test('last_used_at is written at most once a minute per key', async () => {
      const clock = new Clock();
      const store = new CountingStore(new SqlApiKeyStore(db.db, db.dialect));
      const keys = service({ now: clock.now, store });
      const { record, plaintext } = await keys.create({ name: 'touch', scopes: ['users:read'] });
      const stored = async () => (await store.get(record.id))!.lastUsedAt?.getTime() ?? null;
      const waitFor = (ms: number) =>
        within(
          10_000,
          `last_used_at = ${new Date(ms).toISOString()}`,
          (async () => {
            while ((await stored()) !== ms) await sleep(10);
          })(),
        );

      const t0 = clock.ms;
      await keys.authenticate(plaintext);
      await waitFor(t0);
      for (const offset of [0, 1_000, 10_000, 30_000, 59_999]) {
        clock.ms = t0 + offset;
        for (let i = 0; i < 5; i++) await keys.authenticate(plaintext);
      }
      assert.equal(store.touches.length, 1, `writes within the minute: ${JSON.stringify(store.touches)}`);
      assert.equal(await stored(), t0, 'still the first use');

      clock.ms = t0 + 60_000;
      for (let i = 0; i < 5; i++) await keys.authenticate(plaintext);
      await waitFor(t0 + 60_000);
      assert.equal(store.touches.length, 2);

      clock.ms = t0 + 119_999;
      await keys.authenticate(plaintext);
      assert.equal(store.touches.length, 2);
      clock.ms = t0 + 120_000;
      await keys.authenticate(plaintext);
      await waitFor(t0 + 120_000);
      assert.equal(store.touches.length, 3);
      assert.ok(store.touches.every((t) => t.id === record.id));
    });

    test('a failed last_used_at write never fails the request; it is reported', async () => {
      const reported: unknown[] = [];
      const sqlStore = new SqlApiKeyStore(db.db, db.dialect);
      const failingTouch: ApiKeyStore = {
        insert: (r) => sqlStore.insert(r),
        get: (id) => sqlStore.get(id),
        list: () => sqlStore.list(),
        revoke: (id, at) => sqlStore.revoke(id, at),
        touch: () => Promise.reject(new Error('disk full')),
        insertBootstrapKey: (record) => sqlStore.insertBootstrapKey(record),
      };
      const keys = new ApiKeysService({ store: failingTouch, cacheTtlMs: 0, onTouchError: (e) => reported.push(e) });
      const { plaintext } = await keys.create({ name: 'failing touch', scopes: ['users:read'] });
      const principal = await keys.authenticate(plaintext);
      assert.ok(principal.actor.startsWith('key:'));
      await within(
        5000,
        'the touch error report',
        (async () => {
          while (reported.length === 0) await sleep(5);
        })(),
      );
      assert.match(String(reported[0]), /disk full/);
    });

    test('revoked keys are refused at once, even from a warm cache; revoking twice keeps the first time', async () => {
      const clock = new Clock();
      const keys = service({ now: clock.now, cacheTtlMs: 60_000 });
      const { record, plaintext } = await keys.create({ name: 'revoke me', scopes: ['admin'] });
      await keys.authenticate(plaintext); // now cached for a minute
      assert.ok(keys.verified(plaintext, clock.ms), 'remembered as verified');
      const first = await keys.revoke(record.id);
      assert.equal(keys.verified(plaintext, clock.ms), undefined, 'forgotten at once');
      assert.equal(first.revokedAt?.getTime(), clock.ms);
      await rejectsUnauthenticated(keys.authenticate(plaintext), 'revoked');
      clock.advance(10);
      const second = await keys.revoke(record.id);
      assert.equal(second.revokedAt?.getTime(), first.revokedAt?.getTime(), 'the first revocation time stands');
      // Another instance (no cache) refuses it too.
      await rejectsUnauthenticated(service().authenticate(plaintext), 'revoked, other instance');
      await assert.rejects(keys.revoke('0000000000000000'), ApiKeyNotFoundError);
    });

    test('a verified key is then answered from memory until the TTL or its expiry; failures are never remembered', async () => {
      const clock = new Clock();
      const store = new CountingStore(new SqlApiKeyStore(db.db, db.dialect));
      const keys = service({ now: clock.now, cacheTtlMs: 5_000, store });
      const { record, plaintext } = await keys.create({ name: 'warm', scopes: ['users:read'], expiresInSeconds: 60 });
      const forged = `${plaintext.slice(0, -1)}${plaintext.endsWith('A') ? 'B' : 'A'}`;
      await rejectsUnauthenticated(keys.authenticate(forged), 'wrong secret');
      assert.equal(keys.verified(forged, clock.ms), undefined, 'a failed verification is not remembered');
      assert.equal(keys.verified(plaintext, clock.ms), undefined, 'nor does it vouch for the right key');
      await keys.authenticate(plaintext);
      const reads = store.reads;
      assert.equal(keys.verified(plaintext, clock.ms)?.actor, `key:${record.id}`);
      for (let i = 0; i < 3; i++) assert.equal((await keys.authenticate(plaintext)).actor, `key:${record.id}`);
      assert.equal(store.reads, reads, 'no store read while verified');
      // Revoked by another instance: trusted here until the TTL, then refused.
      await service().revoke(record.id);
      clock.advance(4.999);
      assert.equal((await keys.authenticate(plaintext)).actor, `key:${record.id}`, 'within the TTL');
      clock.advance(0.001);
      assert.equal(keys.verified(plaintext, clock.ms), undefined, 'stale after the TTL');
      await rejectsUnauthenticated(keys.authenticate(plaintext), 'revoked elsewhere, after the TTL');
      // Expiry is checked on every hit, whatever the TTL.
      const long = service({ now: clock.now, cacheTtlMs: 3_600_000 });
      const brief = await long.create({ name: 'brief', scopes: ['users:read'], expiresInSeconds: 10 });
      await long.authenticate(brief.plaintext);
      assert.ok(long.verified(brief.plaintext, clock.ms));
      clock.advance(10);
      assert.equal(long.verified(brief.plaintext, clock.ms), undefined);
      await rejectsUnauthenticated(long.authenticate(brief.plaintext), 'expired while remembered');
    });

    test('the authenticator answers a header with a verified key without the full path, and only that exact header', async () => {
      const keys = service({ cacheTtlMs: 60_000 });
      const authenticator = new Authenticator(keys);
      const { record, plaintext } = await keys.create({ name: 'header', scopes: ['users:read'] });
      assert.equal(authenticator.cached(`Bearer ${plaintext}`), undefined, 'not before a verification');
      assert.equal((await authenticator.authenticate(`bearer   ${plaintext}`)).actor, `key:${record.id}`);
      assert.equal(authenticator.cached(`Bearer ${plaintext}`)?.actor, `key:${record.id}`);
      // Other spellings the full path accepts take it, with the same answer.
      assert.equal(authenticator.cached(`bearer ${plaintext}`), undefined);
      assert.equal(authenticator.cached(`Bearer  ${plaintext}`), undefined);
      assert.equal(authenticator.cached(`Bearer ${plaintext} `), undefined);
      assert.equal(authenticator.cached(undefined), undefined);
    });

    test('expired keys are refused from their expiry instant on', async () => {
      const clock = new Clock();
      const keys = service({ now: clock.now });
      const { record, plaintext } = await keys.create({ name: 'short-lived', scopes: ['users:read'], expiresInSeconds: 60 });
      assert.equal(record.expiresAt?.getTime(), clock.ms + 60_000);
      await keys.authenticate(plaintext);
      clock.advance(59.999);
      await keys.authenticate(plaintext);
      clock.advance(0.001);
      await rejectsUnauthenticated(keys.authenticate(plaintext), 'at expiry');
      clock.advance(3600);
      await rejectsUnauthenticated(keys.authenticate(plaintext), 'after expiry');
      // Stored as such: a service with the real clock (2100 is ahead of it) still accepts it,
      // one whose clock is past 2100 does not.
      assert.equal((await service().authenticate(plaintext)).actor, `key:${record.id}`);
      await rejectsUnauthenticated(service({ now: () => new Date(Date.parse('2101-01-01T00:00:00Z')) }).authenticate(plaintext), 'later');
    });

    test('list shows every key with its state, oldest first', async () => {
      const clock = new Clock();
      clock.advance(86_400 * 365);
      const keys = service({ now: clock.now });
      const a = await keys.create({ name: 'list a', scopes: ['users:read'] });
      clock.advance(1);
      const b = await keys.create({ name: 'list b', scopes: ['users:write'], expiresInSeconds: 10 });
      await keys.revoke(a.record.id);
      const listed = await keys.list();
      const ia = listed.findIndex((k) => k.id === a.record.id);
      const ib = listed.findIndex((k) => k.id === b.record.id);
      assert.ok(ia >= 0 && ib > ia, 'oldest first');
      assert.ok(listed[ia]!.revokedAt !== null);
      assert.equal(listed[ib]!.expiresAt?.getTime(), b.record.expiresAt?.getTime());
      assert.deepEqual(listed[ib]!.scopes, ['users:write']);
    });
  });

  describe(`bootstrap on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let second: Database;
    before(async () => {
      testDb = await open();
      // Two handles on the same database, as two instances starting at once would have. On
      // SQLite two handles in ONE process would deadlock any transaction (better-sqlite3 waits
      // for the file lock synchronously, so the holder never gets to commit); separate
      // processes do not, and several instances are a PostgreSQL deployment anyway, so SQLite
      // races through one handle, where Kysely serialises the transactions.
      second = dialect === 'sqlite' ? testDb.database : openDatabase(testDb.url);
    });
    after(async () => {
      if (second !== testDb?.database) await second?.close();
      await testDb?.cleanup();
    });

    test('creates exactly one admin key per database, even when two instances race', async () => {
      const a = new ApiKeysService({ store: new SqlApiKeyStore(testDb.database.db, testDb.database.dialect), cacheTtlMs: 0 });
      const b = new ApiKeysService({ store: new SqlApiKeyStore(second.db, second.dialect), cacheTtlMs: 0 });
      const results = await Promise.all([a.bootstrap(), b.bootstrap(), a.bootstrap(), b.bootstrap()]);
      const printed = results.filter((r): r is string => r !== undefined);
      assert.equal(printed.length, 1, `bootstrap keys handed out: ${printed.length}`);
      const keys = await a.list();
      assert.equal(keys.length, 1, JSON.stringify(keys));
      assert.deepEqual(keys[0]!.scopes, ['admin']);
      const principal = await b.authenticate(printed[0]!);
      assert.ok(principal.scopes.has('admin'));
      // And never again, whoever asks.
      assert.equal(await a.bootstrap(), undefined);
      assert.equal(await b.bootstrap(), undefined);
      assert.equal((await a.list()).length, 1);
    });

    test('a revoked bootstrap key is not replaced on the next start', async () => {
      const a = new ApiKeysService({ store: new SqlApiKeyStore(testDb.database.db, testDb.database.dialect), cacheTtlMs: 0 });
      for (const key of await a.list()) await a.revoke(key.id);
      assert.equal(await a.bootstrap(), undefined);
    });
  });
}
