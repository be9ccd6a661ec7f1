// UsersService over the store the composition picks for each dialect: the rules that need a database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { CursorCodec, InvalidCursorError } from '../../src/kit/cursor.js';
import { ValidationError } from '../../src/kit/errors.js';
import { EmailTakenError, IdempotencyKeyReusedError, UserNotFoundError, VersionMismatchError } from '../../src/users/errors.js';
import { userStoreFor } from '../../src/compose/users.js';
import { userJson } from '../../src/users/document.js';
import { UsersService, type ListUsersInput } from '../../src/users/service.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

const unique = () => uuidv7().slice(-12);

for (const [dialect, open, skip] of await dialects()) {
  describe(`UsersService on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let users: UsersService;
    before(async () => {
      testDb = await open();
      users = new UsersService({
        store: userStoreFor(testDb.database),
        cursors: new CursorCodec(randomBytes(32)),
        newId: uuidv7,
        idempotencyTtlMs: 60_000,
      });
    });
    after(async () => testDb?.cleanup());

    test('concurrent creates with one idempotency key make one user and all see it', async () => {
      const body = { email: `race-${unique()}@example.com`, name: 'Racer' };
      const key = `key-${unique()}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => users.create(body, key)));
      const ids = new Set(results.map((r) => r.user.id));
      assert.equal(ids.size, 1);
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      const page = await users.list({ limit: 10, email: body.email });
      assert.equal(page.users.length, 1);
    });

    test('same key with another body is refused; the first result is untouched', async () => {
      const key = `key-${unique()}`;
      const first = await users.create({ email: `k-${unique()}@example.com`, name: 'First' }, key);
      await assert.rejects(users.create({ email: `k-${unique()}@example.com`, name: 'Second' }, key), IdempotencyKeyReusedError);
      const again = await users.create({ name: 'First', email: first.user.email }, key);
      assert.deepEqual(again, { user: first.user, replayed: true }, 'field order does not matter');
    });

    test('the same key in two scopes makes two users', async () => {
      const key = `key-${unique()}`;
      const a = await users.create({ email: `s1-${unique()}@example.com`, name: 'A' }, key, { idempotencyScope: 'client-a' });
      const b = await users.create({ email: `s2-${unique()}@example.com`, name: 'A' }, key, { idempotencyScope: 'client-b' });
      assert.notEqual(a.user.id, b.user.id);
    });

    test('cursors walk every page and are bound to their filters', async () => {
      const tag = unique();
      for (let i = 0; i < 7; i++) await users.create({ email: `walk${i}-${tag}@example.com`, name: `Walker ${tag} ${i}` }, undefined);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await users.list({ limit: 3, q: `walker ${tag}`, ...(cursor ? { cursor } : {}) });
        seen.push(...page.users.map((u) => u.id));
        cursor = page.nextCursor ?? undefined;
        if (cursor) await assert.rejects(users.list({ limit: 3, q: 'other', cursor }), InvalidCursorError);
      } while (cursor);
      assert.equal(seen.length, 7);
      assert.deepEqual([...seen].sort(), seen, 'in key order: the names, created in id order');
    });

    test("listJson answers list()'s pages, each user as its id and wire document, with the same cursors and errors", async () => {
      const tag = unique();
      for (let i = 0; i < 5; i++) {
        await users.create(
          {
            email: `twin${i}-${tag}@example.com`,
            name: i % 2 === 0 ? `Twin ${tag} ${i}` : `Twïn ${tag} ${i}`,
            active: i !== 2,
            external_id: `twin-${tag}-${i}`,
            attributes: { nested: { 'ü\u2028': ['"q"', null] } },
          },
          undefined,
        );
      }
      const inputs: ListUsersInput[] = [
        { limit: 3 },
        { limit: 1, active: false },
        { limit: 2, q: `twin ${tag}` },
        { limit: 2, q: `tw` },
        { limit: 1, email: `TWIN3-${tag}@example.com` },
        { limit: 1, externalId: `twin-${tag}-4`, q: 'twin' },
        { limit: 1, email: `twin2-${tag}@example.com`, active: false, q: 'other' },
      ];
      for (const input of inputs) {
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await users.list({ ...input, ...(cursor ? { cursor } : {}) });
          const json = await users.listJson({ ...input, ...(cursor ? { cursor } : {}) });
          assert.deepEqual(
            json,
            { users: page.users.map((u) => ({ id: u.id, json: userJson(u) })), nextCursor: page.nextCursor },
            JSON.stringify(input),
          );
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor !== undefined && pages < 100);
      }
      const { nextCursor } = await users.listJson({ limit: 2, q: `twin ${tag}` });
      assert.ok(nextCursor);
      await assert.rejects(users.listJson({ limit: 2, q: 'other', cursor: nextCursor }), InvalidCursorError);
      await assert.rejects(users.listJson({ limit: 2, q: 'twin', active: true }), ValidationError);
    });

    test('update: merge patch, If-Match, email conflict, no-op keeps the version', async () => {
      const a = (await users.create({ email: `u-${unique()}@example.com`, name: 'Up', attributes: { keep: 1, drop: 2 } }, undefined)).user;
      const b = (await users.create({ email: `v-${unique()}@example.com`, name: 'Other' }, undefined)).user;
      const patched = await users.update(a.id, { name: ' New Name ', attributes: { drop: null, added: true } }, [1]);
      assert.equal(patched.name, 'New Name');
      assert.deepEqual(patched.attributes, { keep: 1, added: true });
      assert.equal(patched.version, 2);
      await assert.rejects(users.update(a.id, { name: 'X' }, [1]), VersionMismatchError);
      await assert.rejects(users.update(a.id, { email: b.email.toUpperCase() }, undefined), EmailTakenError);
      await assert.rejects(
        users.update(a.id, { email: null, name: '' }, undefined),
        (e: unknown) => e instanceof ValidationError && e.errors.length === 2,
      );
      const same = await users.update(a.id, { name: 'New Name' }, undefined);
      assert.equal(same.version, 2);
    });

    test('delete honours If-Match, then the user is gone', async () => {
      const u = (await users.create({ email: `d-${unique()}@example.com`, name: 'Del' }, undefined)).user;
      await assert.rejects(users.delete(u.id, [7], undefined), VersionMismatchError);
      await users.delete(u.id, [1]);
      await assert.rejects(users.get(u.id), UserNotFoundError);
    });

    test('a malformed id is a validation error, not a lookup', async () => {
      await assert.rejects(users.get('not-an-id'), ValidationError);
    });
  });
}
