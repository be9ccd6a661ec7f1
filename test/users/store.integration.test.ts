// The UserStore contract: one suite, run against the adapter `serve` picks for each dialect (a SQLite file, PostgreSQL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { EmailTakenError, IdempotencyKeyTakenError, UserNotFoundError, VersionMismatchError } from '../../src/users/errors.js';
import type { Attributes, Email, User, UserId, UserName } from '../../src/users/model.js';
import { userStoreFor } from '../../src/compose/users.js';
import type { IdempotencyRecord, UserStore } from '../../src/users/service.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { created, describeDelete, describeUpdate } from '../helpers/events.js';

function makeUser(overrides: Partial<User> = {}): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `user-${uuidv7()}@example.com` as Email,
    name: 'Test User' as UserName,
    attributes: { team: 'core', level: 3 } as unknown as Attributes,
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`UserStore contract on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let store: UserStore;
    before(async () => {
      testDb = await open();
      store = userStoreFor(testDb.database);
    });
    after(async () => testDb?.cleanup());

    test('create then get returns the same user, timestamps and attributes intact', async () => {
      const user = makeUser({ attributes: { nested: { a: [1, 'two', null] }, ok: true } as unknown as Attributes });
      await store.create(user, undefined, created(user));
      assert.deepEqual(await store.get(user.id), user);
    });

    test('get of an unknown id is undefined', async () => {
      assert.equal(await store.get(uuidv7() as UserId), undefined);
    });

    test('emails are unique case-insensitively and stored as given', async () => {
      const first = makeUser({ email: 'Case.Test@Example.COM' as Email });
      await store.create(first, undefined, created(first));
      const clash = makeUser({ email: 'case.test@example.com' as Email });
      await assert.rejects(store.create(clash, undefined, created(clash)), EmailTakenError);
      assert.equal((await store.get(first.id))?.email, 'Case.Test@Example.COM');
    });

    test('an idempotency key is stored with its user, in one transaction', async () => {
      const user = makeUser();
      const record: IdempotencyRecord = {
        scope: 's',
        key: `k-${uuidv7()}`,
        fingerprint: 'f1',
        user,
        expiresAt: new Date(Date.now() + 60_000),
      };
      await store.create(user, record, created(user));
      const found = await store.findIdempotency('s', record.key, new Date());
      assert.deepEqual(found, record);
      const second = makeUser();
      await assert.rejects(store.create(second, { ...record, user: second }, created(second)), IdempotencyKeyTakenError);
      assert.equal(await store.get(second.id), undefined, 'the losing user must not be created');
    });

    test('a failed user insert leaves no idempotency record behind', async () => {
      const taken = makeUser();
      await store.create(taken, undefined, created(taken));
      const key = `k-${uuidv7()}`;
      const clash = makeUser({ email: taken.email });
      await assert.rejects(
        store.create(clash, { scope: 's', key, fingerprint: 'f', user: clash, expiresAt: new Date(Date.now() + 60_000) }, created(clash)),
        EmailTakenError,
      );
      assert.equal(await store.findIdempotency('s', key, new Date()), undefined);
    });

    test('expired idempotency keys are invisible, reusable and purged', async () => {
      const user = makeUser();
      const key = `k-${uuidv7()}`;
      const past = new Date(Date.now() - 1000);
      await store.create(user, { scope: 'p', key, fingerprint: 'f', user, expiresAt: past }, created(user));
      assert.equal(await store.findIdempotency('p', key, new Date()), undefined);
      const again = makeUser();
      await store.create(
        again,
        { scope: 'p', key, fingerprint: 'g', user: again, expiresAt: new Date(Date.now() + 60_000) },
        created(again),
      );
      assert.equal((await store.findIdempotency('p', key, new Date()))?.fingerprint, 'g');
      const stale = makeUser();
      await store.create(stale, { scope: 'p', key: `k-${uuidv7()}`, fingerprint: 'f', user: stale, expiresAt: past }, created(stale));
      assert.ok((await store.purgeIdempotency(new Date(), 1000)) >= 1);
      assert.equal(await store.purgeIdempotency(new Date(), 1000), 0);
      assert.equal((await store.findIdempotency('p', key, new Date()))?.fingerprint, 'g', 'live keys survive the purge');
    });

    test('update applies the change in a transaction and bumps what the callback returns', async () => {
      const user = makeUser();
      await store.create(user, undefined, created(user));
      const updated = await store.update(
        user.id,
        (current) => ({ ...current, name: 'Renamed' as UserName, version: current.version + 1 }),
        describeUpdate,
      );
      assert.equal(updated.version, 2);
      assert.deepEqual(await store.get(user.id), updated);
    });

    test('update returning the same object writes nothing', async () => {
      const user = makeUser();
      await store.create(user, undefined, created(user));
      const same = await store.update(user.id, (current) => current, describeUpdate);
      assert.deepEqual(same, user);
    });

    test('update of a missing user and a vetoing callback both leave data unchanged', async () => {
      await assert.rejects(
        store.update(uuidv7() as UserId, (c) => c, describeUpdate),
        UserNotFoundError,
      );
      const user = makeUser();
      await store.create(user, undefined, created(user));
      await assert.rejects(
        store.update(
          user.id,
          () => {
            throw new VersionMismatchError('no');
          },
          describeUpdate,
        ),
        VersionMismatchError,
      );
      assert.deepEqual(await store.get(user.id), user);
    });

    test('update to a taken email is a conflict', async () => {
      const a = makeUser();
      const b = makeUser();
      await store.create(a, undefined, created(a));
      await store.create(b, undefined, created(b));
      await assert.rejects(
        store.update(b.id, (c) => ({ ...c, email: a.email.toUpperCase() as Email }), describeUpdate),
        EmailTakenError,
      );
    });

    test('concurrent updates of one user serialise: no lost update', async () => {
      const user = makeUser({ attributes: { n: 0 } as unknown as Attributes });
      await store.create(user, undefined, created(user));
      const bump = () =>
        store.update(
          user.id,
          (c) => ({
            ...c,
            attributes: { n: (c.attributes.n as number) + 1 } as unknown as Attributes,
            version: c.version + 1,
          }),
          describeUpdate,
        );
      await Promise.all(Array.from({ length: 20 }, bump));
      const final = await store.get(user.id);
      assert.equal(final?.attributes.n, 20);
      assert.equal(final?.version, 21);
    });

    test('delete honours the check and removes the user', async () => {
      const user = makeUser();
      await store.create(user, undefined, created(user));
      await assert.rejects(
        store.delete(
          user.id,
          () => {
            throw new VersionMismatchError('stale');
          },
          describeDelete,
        ),
        VersionMismatchError,
      );
      assert.ok(await store.get(user.id));
      await store.delete(user.id, () => undefined, describeDelete);
      assert.equal(await store.get(user.id), undefined);
      await assert.rejects(
        store.delete(user.id, () => undefined, describeDelete),
        UserNotFoundError,
      );
    });

    test('list pages in id order with exact-email and prefix filters', async () => {
      const tag = uuidv7().slice(-8);
      const made: User[] = [];
      for (let i = 0; i < 5; i++) {
        const u = makeUser({ email: `Page${i}-${tag}@Example.com` as Email, name: `Ünïcode ${tag} ${i}` as UserName });
        await store.create(u, undefined, created(u));
        made.push(u);
      }
      const exact = await store.list({ limit: 10, emailKey: `page3-${tag}@example.com` });
      assert.deepEqual(
        exact.map((u) => u.id),
        [made[3]!.id],
      );
      const byEmailPrefix = await store.list({ limit: 10, prefix: `page` });
      assert.ok(made.every((m) => byEmailPrefix.some((u) => u.id === m.id)));
      const byName = await store.list({ limit: 10, prefix: `ünïcode ${tag}` });
      assert.deepEqual(
        byName.map((u) => u.id),
        made.map((u) => u.id),
      );
      const page1 = await store.list({ limit: 2, prefix: `ünïcode ${tag}` });
      const page2 = await store.list({ limit: 2, prefix: `ünïcode ${tag}`, afterId: page1[1]!.id });
      assert.deepEqual(
        [...page1, ...page2].map((u) => u.id),
        made.slice(0, 4).map((u) => u.id),
      );
    });

    test('prefix search treats LIKE wildcards literally', async () => {
      const u = makeUser({ name: '100%_real\\name' as UserName });
      await store.create(u, undefined, created(u));
      const hits = await store.list({ limit: 10, prefix: '100%_' });
      assert.deepEqual(
        hits.map((x) => x.id),
        [u.id],
      );
      assert.deepEqual(await store.list({ limit: 10, prefix: '1%' }), []);
    });

    test('an aborted signal stops the call before it touches the database', async () => {
      const controller = new AbortController();
      controller.abort(new Error('gone'));
      const user = makeUser();
      await assert.rejects(store.create(user, undefined, created(user), controller.signal), /gone/);
      assert.equal(await store.get(user.id), undefined);
    });
  });
}
