// The provisioning fields through UsersService and the store each dialect's composition picks, and
// through the import's batch writers: stored and read back, unique external ids, the filters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { userStoreFor } from '../../src/compose/users.js';
import { CursorCodec, InvalidCursorError } from '../../src/kit/cursor.js';
import { ValidationError } from '../../src/kit/errors.js';
import { EmailTakenError, ExternalIdTakenError } from '../../src/users/errors.js';
import { UsersService } from '../../src/users/service.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { importService, provisioning, runImport } from '../imports/harness.js';

const unique = () => uuidv7().slice(-12);

for (const [dialect, open, skip] of await dialects()) {
  describe(`provisioning fields on ${dialect}`, { skip }, () => {
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

    test('create stores every field; get and list read them back the same', async () => {
      const tag = unique();
      const { user } = await users.create(
        {
          email: `p-${tag}@example.com`,
          name: 'Ada Lovelace',
          given_name: 'Ada',
          family_name: 'Lovelace',
          external_id: `Okta-${tag}`,
          active: false,
          attributes: { team: 'x' },
          profile: { title: 'Analyst', emails: [{ value: 'ada@home.example', primary: true }], addresses: [{ formatted: 'a\nb' }] },
        },
        undefined,
      );
      const read = await users.get(user.id);
      assert.deepEqual(read, user);
      assert.equal(read.active, false);
      assert.deepEqual(read.profile, {
        title: 'Analyst',
        emails: [{ value: 'ada@home.example', primary: true }],
        addresses: [{ formatted: 'a\nb' }],
      });
      assert.deepEqual((await users.findByExternalId(`Okta-${tag}`))?.id, user.id);
      assert.equal(await users.findByExternalId(`okta-${tag}`), undefined, 'external ids are compared exactly');
      const page = await users.list({ limit: 5, externalId: `Okta-${tag}` });
      assert.deepEqual(page.users, [user]);
    });

    test('an idempotent create fingerprints without fields at their defaults: a retry that spells them out replays', async () => {
      const key = `key-${unique()}`;
      const body = { email: `i-${unique()}@example.com`, name: 'Idem' };
      const first = await users.create(body, key);
      const again = await users.create({ ...body, active: true, external_id: null, profile: {} }, key);
      assert.deepEqual(again, { user: first.user, replayed: true });
    });

    test('an existing user reads back with the defaults', async () => {
      const { user } = await users.create({ email: `d-${unique()}@example.com`, name: 'Plain' }, undefined);
      const read = await users.get(user.id);
      assert.deepEqual(
        { active: read.active, externalId: read.externalId, givenName: read.givenName, familyName: read.familyName, profile: read.profile },
        { active: true, externalId: null, givenName: null, familyName: null, profile: {} },
      );
    });

    test('a taken external id is ExternalIdTakenError on create and on update; a taken email stays EmailTakenError', async () => {
      const tag = unique();
      const { user: first } = await users.create({ email: `a-${tag}@example.com`, name: 'A', external_id: `X-${tag}` }, undefined);
      await assert.rejects(
        users.create({ email: `b-${tag}@example.com`, name: 'B', external_id: `X-${tag}` }, undefined),
        ExternalIdTakenError,
      );
      await assert.rejects(
        users.create({ email: `a-${tag}@example.com`, name: 'A2', external_id: `Y-${tag}` }, undefined),
        EmailTakenError,
      );
      const { user: second } = await users.create({ email: `c-${tag}@example.com`, name: 'C', external_id: `x-${tag}` }, undefined);
      await assert.rejects(users.update(second.id, { external_id: `X-${tag}` }, undefined), ExternalIdTakenError);
      // Many users may have none.
      await users.update(first.id, { external_id: null }, undefined);
      await users.update(second.id, { external_id: null }, undefined);
      await users.update(second.id, { external_id: `X-${tag}` }, undefined);
      assert.equal((await users.findByExternalId(`X-${tag}`))?.id, second.id);
    });

    test('?active= pages in id order through the cursor, bound to its filter; q with active needs email or external_id', async () => {
      const tag = unique();
      const made: { id: string; active: boolean }[] = [];
      for (let i = 0; i < 9; i++) {
        const { user } = await users.create({ email: `act${i}-${tag}@example.com`, name: `Act ${tag}`, active: i % 3 !== 0 }, undefined);
        made.push({ id: user.id, active: user.active });
      }
      for (const state of [true, false]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await users.list({ limit: 2, active: state, ...(cursor === undefined ? {} : { cursor }) });
          assert.ok(page.users.every((u) => u.active === state));
          seen.push(...page.users.map((u) => u.id));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        assert.deepEqual([...seen].sort(), seen, 'in id order');
        const mine = made.filter((m) => m.active === state).map((m) => m.id);
        assert.deepEqual(
          seen.filter((id) => mine.includes(id)),
          mine,
        );
        if (state) {
          const page = await users.list({ limit: 1, active: true });
          await assert.rejects(users.list({ limit: 1, active: false, cursor: page.nextCursor! }), InvalidCursorError);
        }
      }
      await assert.rejects(users.list({ limit: 5, q: 'act', active: true }), ValidationError);
      const [deactivated] = made.filter((m) => !m.active);
      await users.update(deactivated!.id, { external_id: `E-${tag}` }, undefined);
      const found = await users.list({ limit: 5, q: 'act', active: false, externalId: `E-${tag}` });
      assert.deepEqual(
        found.users.map((u) => u.id),
        [deactivated!.id],
      );
      assert.deepEqual((await users.list({ limit: 5, active: true, externalId: `E-${tag}` })).users, []);
    });

    test('import upsert writes the fields, reports a taken external id and leaves that user alone', async () => {
      const tag = unique();
      const { user: holder } = await users.create({ email: `h-${tag}@example.com`, name: 'Holder', external_id: `H-${tag}` }, undefined);
      const service = importService(testDb.database);
      const csv = [
        'email,name,given_name,family_name,external_id,active,profile',
        `i1-${tag}@example.com,One,Uno,First,I-${tag},false,"{""title"":""T""}"`,
        `i2-${tag}@example.com,Two,,,H-${tag},,`,
        `i3-${tag}@example.com,Three,,,I-${tag},true,`,
      ].join('\n');
      const { job } = await runImport(service, csv, { mode: 'upsert' });
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      assert.deepEqual(job.counts, { read: 3, created: 1, updated: 0, skipped: 0, failed: 2 });
      const one = (await users.findByExternalId(`I-${tag}`))!;
      assert.deepEqual(
        { given: one.givenName, family: one.familyName, active: one.active, profile: one.profile },
        { given: 'Uno', family: 'First', active: false, profile: { title: 'T' } },
      );
      assert.equal((await users.findByExternalId(`H-${tag}`))?.id, holder.id);
      // Upsert again: the row now matches by email and changes only what differs.
      const again = await runImport(service, `email,name,external_id,active\ni1-${tag}@example.com,One,I-${tag},true\n`, {
        mode: 'upsert',
      });
      assert.deepEqual(again.job.counts, { read: 1, created: 0, updated: 1, skipped: 0, failed: 0 });
      const rows = (await provisioning(testDb.database)).filter((r) => r.id === one.id);
      assert.deepEqual(rows, [{ id: one.id, active: true, external_id: `I-${tag}`, given_name: null, family_name: null, profile: {} }]);
    });
  });
}
