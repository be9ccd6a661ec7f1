// The UserStore contract: one suite, run against the adapter `serve` picks for each dialect (a SQLite file, PostgreSQL).
import { PROVISIONING_DEFAULTS } from '../../src/users/model.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { EmailTakenError, IdempotencyKeyTakenError, UserNotFoundError, VersionMismatchError } from '../../src/users/errors.js';
import {
  toUserDocument,
  type Attributes,
  type Email,
  type ExternalId,
  type User,
  type UserId,
  type UserName,
} from '../../src/users/model.js';
import { userJson } from '../../src/users/document.js';
import { userStoreFor } from '../../src/compose/users.js';
import { Deadline } from '../../src/kit/deadline.js';
import type { IdempotencyRecord, KeyRangeQuery, UserPageQuery, UserStore } from '../../src/users/service.js';
import { prefixRange } from '../../src/users/search.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { created, describeDelete, describeUpdate } from '../helpers/events.js';

/** Attributes whose text must reach the wire as it was stored: nesting, non-ASCII, U+2028, quotes. */
const WIRE_ATTRIBUTES = { nested: { a: [1, 'two', null] }, 'ü\u2028': '"quoted"' } as unknown as Attributes;

/** A time toISOString() writes in six digits, which no store splices: its user's document is written from a User. */
const UNSPLICED_TIME = new Date('+010000-06-01T12:00:00.000Z');

/** What listJson() and searchJson() read a user as: its id and the document userJson() writes of it. */
function listed(user: User): { id: UserId; json: string } {
  return { id: user.id, json: userJson(user) };
}

/** The user's wire document, parsed: the document of what was written, whichever way it was read. */
function documentOf(user: User): unknown {
  return JSON.parse(JSON.stringify(toUserDocument(user)));
}

function makeUser(overrides: Partial<User> = {}): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `user-${uuidv7()}@example.com` as Email,
    name: 'Test User' as UserName,
    attributes: { team: 'core', level: 3 } as unknown as Attributes,
    ...PROVISIONING_DEFAULTS,
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

    test('getJson answers the document of the user get() reads, with its version, from the same row', async () => {
      const user = makeUser({
        attributes: { nested: { a: [1, 'two', null] }, 'ü\u2028': '"quoted"' } as unknown as Attributes,
        givenName: 'Zoë' as UserName,
      });
      await store.create(user, undefined, created(user));
      const changed = await store.update(user.id, (u) => ({ ...u, name: 'Renamed' as UserName, version: u.version + 1 }), describeUpdate);
      const read = await store.getJson(user.id);
      assert.deepEqual(read, { version: 2, json: userJson((await store.get(user.id))!) });
      assert.deepEqual(JSON.parse(read.json), JSON.parse(JSON.stringify(toUserDocument(changed))));
      assert.equal(await store.getJson(uuidv7() as UserId), undefined);
    });

    test('getJson answers a user whose times are not stored in the spliced shape (a year past 9999) as get() reads it', async () => {
      const user = makeUser({ createdAt: UNSPLICED_TIME, updatedAt: UNSPLICED_TIME });
      await store.create(user, undefined, created(user));
      const read = await store.getJson(user.id);
      assert.deepEqual(read, { version: 1, json: userJson((await store.get(user.id))!) });
      assert.equal(JSON.parse(read.json).created_at, '+010000-06-01T12:00:00.000Z');
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

    test('list pages in id order, with the exact email and an optional prefix range on that one user', async () => {
      const tag = uuidv7().slice(-8);
      const made: User[] = [];
      for (let i = 0; i < 5; i++) {
        const u = makeUser({ email: `Page${i}-${tag}@Example.com` as Email, name: `Ünïcode ${tag} ${i}` as UserName });
        await store.create(u, undefined, created(u));
        made.push(u);
      }
      const page1 = await store.list({ limit: 2 });
      const page2 = await store.list({ limit: 2, afterId: page1[1]!.id });
      const all = (await store.list({ limit: 1000 })).map((u) => u.id);
      assert.deepEqual(
        [...page1, ...page2].map((u) => u.id),
        all.slice(0, 4),
      );
      assert.deepEqual(all, [...all].sort());
      const emailKey = `page3-${tag}@example.com`;
      assert.deepEqual(
        (await store.list({ limit: 10, emailKey })).map((u) => u.id),
        [made[3]!.id],
      );
      assert.deepEqual(
        (await store.list({ limit: 10, emailKey, afterId: made[3]!.id })).map((u) => u.id),
        [],
      );
      for (const prefix of ['page3', `ünïcode ${tag}`]) {
        const hits = await store.list({ limit: 10, emailKey, prefix: prefixRange(prefix) });
        assert.deepEqual(
          hits.map((u) => u.id),
          [made[3]!.id],
          prefix,
        );
      }
      assert.deepEqual(await store.list({ limit: 10, emailKey, prefix: prefixRange('page4') }), []);
      assert.deepEqual(await store.list({ limit: 10, emailKey, prefix: { from: 'page3', below: undefined } }).then((r) => r.length), 1);
    });

    test('search walks one key range in (key, id) order from a position, with both keys', async () => {
      const tag = uuidv7().slice(-8);
      const made: User[] = [];
      // Three users share a name: the id orders them within it.
      for (const [i, name] of ['Ünïcode b', 'Ünïcode a', 'Ünïcode b', 'Ünïcode b', 'Other'].entries()) {
        const u = makeUser({ email: `Srch${i}-${tag}@Example.com` as Email, name: `${name} ${tag}` as UserName });
        await store.create(u, undefined, created(u));
        made.push(u);
      }
      const range = prefixRange(`ünïcode`);
      const byName = await store.search({ key: 'name', after: { key: range.from, id: '' }, below: range.below, limit: 100 });
      const mine = byName.filter((r) => r.nameKey.endsWith(tag));
      const expected = made
        .slice(0, 4)
        .map((u) => ({ key: `${u.name.toLowerCase()}`, id: u.id }))
        .sort((a, b) => (a.key === b.key ? (a.id < b.id ? -1 : 1) : a.key < b.key ? -1 : 1));
      assert.deepEqual(
        mine.map((r) => ({ key: r.nameKey, id: r.user.id })),
        expected,
      );
      assert.equal(mine[0]!.emailKey, `srch1-${tag}@example.com`);
      assert.deepEqual(mine[0]!.user, made[1]);
      // From the middle of the tie: only the later ids of that name, then on.
      const after = { key: mine[1]!.nameKey, id: mine[1]!.user.id };
      const rest = await store.search({ key: 'name', after, below: range.below, limit: 2 });
      assert.deepEqual(
        rest.map((r) => r.user.id),
        mine.slice(2, 4).map((r) => r.user.id),
      );

      const emails = prefixRange(`srch`);
      const byEmail = await store.search({ key: 'email', after: { key: emails.from, id: '' }, below: emails.below, limit: 100 });
      const mineByEmail = byEmail.filter((r) => r.emailKey.includes(tag));
      assert.deepEqual(
        mineByEmail.map((r) => r.user.id),
        made.map((u) => u.id),
      );
      // A position on an email key: that user is after it only if its id is.
      const at = mineByEmail[2]!;
      const next = await store.search({ key: 'email', after: { key: at.emailKey, id: at.user.id }, below: emails.below, limit: 1 });
      assert.equal(next[0]?.user.id, mineByEmail[3]!.user.id);
      const same = await store.search({ key: 'email', after: { key: at.emailKey, id: '' }, below: emails.below, limit: 1 });
      assert.equal(same[0]?.user.id, at.user.id);
      // The upper end is exclusive and may be absent.
      assert.deepEqual(await store.search({ key: 'email', after: { key: 'srch', id: '' }, below: 'srch', limit: 5 }), []);
      const open = await store.search({ key: 'name', after: { key: `other ${tag}`, id: '' }, below: undefined, limit: 1 });
      assert.equal(open[0]?.user.id, made[4]!.id);
    });

    test("listJson reads list()'s page, each user as its id and wire document, for every filter", async () => {
      const tag = uuidv7().slice(-8);
      const made: User[] = [];
      for (let i = 0; i < 4; i++) {
        const u = makeUser({
          email: `Wire${i}-${tag}@Example.com` as Email,
          name: `Wïre ${tag} ${i}` as UserName,
          active: i % 2 === 0,
          externalId: `wire-${tag}-${i}` as ExternalId,
          givenName: 'Zoë' as UserName,
          attributes: WIRE_ATTRIBUTES,
          ...(i === 3 ? { createdAt: UNSPLICED_TIME, updatedAt: UNSPLICED_TIME } : {}),
        });
        await store.create(u, undefined, created(u));
        made.push(u);
      }
      made[1] = await store.update(made[1]!.id, (u) => ({ ...u, name: 'Renamed' as UserName, version: u.version + 1 }), describeUpdate);
      const emailKey = `wire2-${tag}@example.com`;
      const queries: UserPageQuery[] = [
        { limit: 1000 },
        { limit: 2, afterId: made[0]!.id },
        { limit: 1000, active: false },
        { limit: 10, emailKey },
        { limit: 10, externalId: `wire-${tag}-3` },
        { limit: 10, emailKey, prefix: prefixRange(`wïre ${tag}`) },
        { limit: 10, emailKey, prefix: prefixRange('other') },
      ];
      for (const query of queries) {
        assert.deepEqual(await store.listJson(query), (await store.list(query)).map(listed), JSON.stringify(query));
      }
      assert.deepEqual(
        (await store.listJson({ limit: 2, afterId: made[0]!.id })).map((u) => u.id),
        [made[1].id, made[2]!.id],
      );
      const all = new Map((await store.listJson({ limit: 1000 })).map((u) => [u.id, u.json]));
      for (const u of made) assert.deepEqual(JSON.parse(all.get(u.id)!), documentOf(u));
    });

    test("searchJson reads search()'s rows, each user as its id and wire document, with both keys", async () => {
      const tag = uuidv7().slice(-8);
      const made: User[] = [];
      for (const [i, name] of ['Jsön b', 'Jsön a', 'Jsön b'].entries()) {
        const u = makeUser({
          email: `Json${i}-${tag}@Example.com` as Email,
          name: `${name} ${tag}` as UserName,
          attributes: WIRE_ATTRIBUTES,
          ...(i === 1 ? { createdAt: UNSPLICED_TIME, updatedAt: UNSPLICED_TIME } : {}),
        });
        await store.create(u, undefined, created(u));
        made.push(u);
      }
      for (const [key, prefix] of [
        ['email', `json`],
        ['name', `jsön`],
      ] as const) {
        const range = prefixRange(prefix);
        const from = { key: range.from, id: '' };
        const first = await store.searchJson({ key, after: from, below: range.below, limit: 100 });
        const mine = first.filter((r) => r.emailKey.endsWith(`-${tag}@example.com`));
        assert.equal(mine.length, 3, key);
        for (const r of mine) assert.deepEqual(JSON.parse(r.user.json), documentOf(made.find((u) => u.id === r.user.id)!));
        const middle = { key: key === 'email' ? mine[1]!.emailKey : mine[1]!.nameKey, id: mine[1]!.user.id };
        const queries: KeyRangeQuery[] = [
          { key, after: from, below: range.below, limit: 100 },
          { key, after: from, below: range.below, limit: 1 },
          { key, after: middle, below: range.below, limit: 2 },
          { key, after: middle, below: undefined, limit: 2 },
          { key, after: from, below: range.from, limit: 5 },
        ];
        for (const query of queries) {
          const expected = (await store.search(query)).map((r) => ({ user: listed(r.user), emailKey: r.emailKey, nameKey: r.nameKey }));
          assert.deepEqual(await store.searchJson(query), expected, JSON.stringify(query));
        }
      }
    });

    test('search compares keys as bytes: LIKE wildcards and case are plain characters', async () => {
      const u = makeUser({ name: '100%_real\\name' as UserName });
      await store.create(u, undefined, created(u));
      const scan = (prefix: string) => {
        const range = prefixRange(prefix);
        return store.search({ key: 'name', after: { key: range.from, id: '' }, below: range.below, limit: 10 });
      };
      assert.deepEqual(
        (await scan('100%_')).map((x) => x.user.id),
        [u.id],
      );
      assert.deepEqual(await scan('1%'), []);
      assert.deepEqual(await scan('100%_REAL'), [], 'keys are folded already, the range is exact');
    });

    test('an aborted signal stops the call before it touches the database', async () => {
      const controller = new AbortController();
      controller.abort(new Error('gone'));
      const user = makeUser();
      await assert.rejects(store.create(user, undefined, created(user), controller.signal), /gone/);
      assert.equal(await store.get(user.id), undefined);
    });

    test("a request's aborted Deadline stops reads and writes alike, though no AbortSignal was ever made for it", async () => {
      const user = makeUser();
      await store.create(user, undefined, created(user));
      const deadline = new Deadline(60_000, () => new Error('expired'));
      deadline.abort(new Error('client gone'));
      deadline.dispose();
      await assert.rejects(store.get(user.id, deadline), /client gone/);
      await assert.rejects(store.getJson(user.id, deadline), /client gone/);
      await assert.rejects(store.list({ limit: 10 }, deadline), /client gone/);
      await assert.rejects(store.listJson({ limit: 10 }, deadline), /client gone/);
      await assert.rejects(store.searchJson({ key: 'name', after: { key: 'a', id: '' }, below: 'b', limit: 10 }, deadline), /client gone/);
      const other = makeUser();
      await assert.rejects(store.create(other, undefined, created(other), deadline), /client gone/);
      assert.equal(await store.get(other.id), undefined);
    });

    test('a live Deadline reads like no cancellation at all', async () => {
      const user = makeUser();
      await store.create(user, undefined, created(user));
      const deadline = new Deadline(60_000, () => new Error('expired'));
      try {
        assert.deepEqual(await store.get(user.id, deadline), user);
      } finally {
        deadline.dispose();
      }
    });
  });
}
