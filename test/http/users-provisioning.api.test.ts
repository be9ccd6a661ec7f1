// The provisioning fields over the real app on each database: create, read, patch, deactivate,
// filter, the 409 of a taken external id and the 400s that point at the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { assertProblem, fromInject, type PageJson } from '../helpers/http.js';

interface ProvisionedJson {
  id: string;
  email: string;
  name: string;
  given_name: string | null;
  family_name: string | null;
  external_id: string | null;
  active: boolean;
  attributes: Record<string, unknown>;
  profile: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
}

const unique = () => uuidv7().slice(-12);
const post = (body: unknown): InjectOptions => ({
  method: 'POST',
  url: '/v1/users',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});
const patch = (id: string, body: unknown, headers: Record<string, string> = {}): InjectOptions => ({
  method: 'PATCH',
  url: `/v1/users/${id}`,
  headers: { 'content-type': 'application/merge-patch+json', ...headers },
  payload: JSON.stringify(body),
});

for (const [dialect, open, skip] of await dialects()) {
  describe(`/v1/users provisioning fields on ${dialect}`, { skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(open);
    });
    after(async () => t?.close());

    async function create(body: Record<string, unknown>): Promise<ProvisionedJson> {
      const res = await t.app.inject(post({ email: `${unique()}@example.com`, name: 'Someone', ...body }));
      assert.equal(res.statusCode, 201, res.body);
      return res.json<ProvisionedJson>();
    }

    test('create201 with every field; GET returns it the same', async () => {
      const tag = unique();
      const body = {
        email: `ada-${tag}@example.com`,
        name: 'Ada Lovelace',
        given_name: ' Ada ',
        family_name: 'Lovelace',
        external_id: `00u${tag}`,
        active: true,
        attributes: { custom: 1 },
        profile: { title: 'Analyst', department: '', manager_id: 'boss', phone_numbers: [{ value: '+44 1', type: 'work', primary: true }] },
      };
      const created = await create(body);
      assert.deepEqual(
        { ...created, id: undefined, version: undefined },
        {
          ...body,
          given_name: 'Ada',
          id: undefined,
          version: undefined,
          created_at: created.created_at,
          updated_at: created.updated_at,
        },
      );
      const got = await t.app.inject({ method: 'GET', url: `/v1/users/${created.id}` });
      assert.deepEqual(got.json(), created);
    });

    test('create201 without the fields: defaults', async () => {
      const created = await create({});
      assert.deepEqual(
        [created.active, created.external_id, created.given_name, created.family_name, created.profile],
        [true, null, null, null, {}],
      );
    });

    test('create409 external-id-taken, exact match only', async () => {
      const external = `Ext-${unique()}`;
      await create({ external_id: external });
      const res = await t.app.inject(post({ email: `${unique()}@example.com`, name: 'Twin', external_id: external }));
      assertProblem(fromInject(res), 'external-id-taken');
      await create({ external_id: external.toLowerCase() });
    });

    test('create400 names every bad field, profile problems with their path', async () => {
      const res = await t.app.inject(
        post({
          email: `${unique()}@example.com`,
          name: 'Bad',
          active: 'yes',
          external_id: '',
          given_name: '   ',
          profile: { title: 'ok', nope: 1, emails: [{ type: 'work' }] },
        }),
      );
      const problem = assertProblem(fromInject(res), 'validation');
      const pointers = (problem.errors ?? []).map((e) => e.pointer);
      for (const pointer of ['/active', '/external_id', '/given_name']) assert.ok(pointers.includes(pointer), `${pointer} in ${res.body}`);
      assert.ok(
        pointers.some((p) => p?.startsWith('/profile')),
        res.body,
      );
    });

    test('patch: deactivate, merge the profile, clear the external id; each is a new version', async () => {
      const user = await create({ external_id: `P-${unique()}`, profile: { title: 'A', department: 'B' } });
      const res = await t.app.inject(
        patch(user.id, { active: false, external_id: null, profile: { department: null, division: 'C' } }, { 'if-match': '"1"' }),
      );
      assert.equal(res.statusCode, 200, res.body);
      const patched = res.json<ProvisionedJson>();
      assert.deepEqual(
        [patched.active, patched.external_id, patched.profile, patched.version],
        [false, null, { title: 'A', division: 'C' }, 2],
      );
      // Deactivated, not deleted: still readable.
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/users/${user.id}` })).statusCode, 200);
      const bad = await t.app.inject(patch(user.id, { active: null, profile: { emails: 'x' } }));
      assertProblem(fromInject(bad), 'validation', { pointers: ['/active', '/profile/emails'] });
    });

    test('patch409 external-id-taken', async () => {
      const external = `Q-${unique()}`;
      await create({ external_id: external });
      const other = await create({});
      assertProblem(fromInject(await t.app.inject(patch(other.id, { external_id: external }))), 'external-id-taken');
    });

    test('list filters: ?external_id= exact, ?active= both states, combined with the cursor', async () => {
      const tag = unique();
      const target = await create({ external_id: `F-${tag}`, active: false });
      const byExternal = await t.app.inject({ method: 'GET', url: `/v1/users?external_id=F-${tag}` });
      assert.deepEqual(
        byExternal.json<PageJson>().data.map((u) => u.id),
        [target.id],
      );
      const none = await t.app.inject({ method: 'GET', url: `/v1/users?external_id=f-${tag}` });
      assert.deepEqual(none.json<PageJson>().data, []);
      const inactive: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/users?active=false&limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const res = await t.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json<{ data: ProvisionedJson[]; next_cursor: string | null }>();
        assert.ok(page.data.every((u) => !u.active));
        inactive.push(...page.data.map((u) => u.id));
        cursor = page.next_cursor;
      } while (cursor !== null);
      assert.ok(inactive.includes(target.id));
      const activePage = await t.app.inject({ method: 'GET', url: '/v1/users?active=true&limit=200' });
      assert.ok(!activePage.json<PageJson>().data.some((u) => u.id === target.id));
      assertProblem(fromInject(await t.app.inject({ method: 'GET', url: '/v1/users?active=maybe' })), 'validation');
      assertProblem(fromInject(await t.app.inject({ method: 'GET', url: '/v1/users?active=true&q=a' })), 'validation');
    });
  });
}
