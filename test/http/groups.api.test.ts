// API tests for /v1/groups and /v1/users/{id}/groups: the real app over a real database of
// each dialect, driven with app.inject (responses checked against the OpenAPI document by the
// helpers), every route's success and its 400/404/409/412/422 answers, scopes and events.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { assertProblem, fromInject, UUID_V7 } from '../helpers/http.js';

interface GroupJson {
  id: string;
  display_name: string;
  external_id: string | null;
  attributes: Record<string, unknown>;
  member_count: number;
  version: number;
}
interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

const unique = () => uuidv7().slice(-12);

for (const [dialect, open, skip] of await dialects()) {
  describe(`/v1/groups on ${dialect}`, { skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(open);
    });
    after(async () => t?.close());

    const call = (options: InjectOptions) => t.app.inject(options);
    const json = <T>(res: { body: string }) => JSON.parse(res.body) as T;
    const newUser = async () =>
      json<{ id: string }>(
        await call({ method: 'POST', url: '/v1/users', payload: { email: `u-${unique()}@example.com`, name: 'Member' } }),
      ).id;
    const newGroup = async (payload: Record<string, unknown> = {}) => {
      const res = await call({ method: 'POST', url: '/v1/groups', payload: { display_name: `Team ${unique()}`, ...payload } });
      assert.equal(res.statusCode, 201, res.body);
      return json<GroupJson>(res);
    };

    test('POST 201: Location, ETag, the document; GET 200 and 304', async () => {
      const member = await newUser();
      const res = await call({
        method: 'POST',
        url: '/v1/groups',
        payload: { display_name: ' Research ', external_id: `okta-${unique()}`, attributes: { cost: 1 }, member_ids: [member] },
      });
      assert.equal(res.statusCode, 201, res.body);
      const group = json<GroupJson>(res);
      assert.match(group.id, UUID_V7);
      assert.equal(res.headers.location, `/v1/groups/${group.id}`);
      assert.equal(res.headers.etag, '"1"');
      assert.equal(group.display_name, 'Research');
      assert.equal(group.member_count, 1);
      const got = await call({ method: 'GET', url: `/v1/groups/${group.id}` });
      assert.equal(got.statusCode, 200);
      assert.deepEqual(json(got), group);
      const cached = await call({ method: 'GET', url: `/v1/groups/${group.id}`, headers: { 'if-none-match': '"1"' } });
      assert.equal(cached.statusCode, 304);
    });

    test('POST with Idempotency-Key: a retry replays the first answer, another body is 422', async () => {
      const key = `idem-${unique()}`;
      const payload = { display_name: `Idem ${unique()}` };
      const first = await call({ method: 'POST', url: '/v1/groups', headers: { 'idempotency-key': key }, payload });
      assert.equal(first.statusCode, 201, first.body);
      const again = await call({ method: 'POST', url: '/v1/groups', headers: { 'idempotency-key': key }, payload });
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(json<GroupJson>(again).id, json<GroupJson>(first).id);
      const other = await call({
        method: 'POST',
        url: '/v1/groups',
        headers: { 'idempotency-key': key },
        payload: { display_name: 'Else' },
      });
      assertProblem(fromInject(other), 'idempotency-key-reused');
    });

    test('POST 400 (every field), 409 name and external id, 422 unknown members, 415', async () => {
      const bad = await call({
        method: 'POST',
        url: '/v1/groups',
        payload: { display_name: ' ', external_id: '', member_ids: ['nope'], extra: 1 },
      });
      assertProblem(fromInject(bad), 'validation', { pointers: ['/display_name', '/external_id', '/member_ids/0', '/extra'] });
      const g = await newGroup({ external_id: `dup-${unique()}` });
      assertProblem(
        fromInject(await call({ method: 'POST', url: '/v1/groups', payload: { display_name: g.display_name.toUpperCase() } })),
        'group-name-taken',
      );
      assertProblem(
        fromInject(
          await call({ method: 'POST', url: '/v1/groups', payload: { display_name: `Other ${unique()}`, external_id: g.external_id } }),
        ),
        'group-external-id-taken',
      );
      const ghost = uuidv7();
      const missing = await call({
        method: 'POST',
        url: '/v1/groups',
        payload: { display_name: `Ghosts ${unique()}`, member_ids: [ghost] },
      });
      const body = assertProblem(fromInject(missing), 'member-not-found', { pointers: ['/user_ids'] });
      assert.ok(body.errors?.[0]?.message.includes(ghost));
      const text = await call({ method: 'POST', url: '/v1/groups', headers: { 'content-type': 'text/plain' }, payload: 'x' });
      assertProblem(fromInject(text), 'unsupported-media-type');
    });

    test('GET 404 and 400 for malformed ids', async () => {
      assertProblem(fromInject(await call({ method: 'GET', url: `/v1/groups/${uuidv7()}` })), 'group-not-found');
      assertProblem(fromInject(await call({ method: 'GET', url: '/v1/groups/not-an-id' })), 'validation');
    });

    test('GET list: pages by cursor, q prefix, display_name and external_id filters, bad cursor 400', async () => {
      const tag = unique();
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await newGroup({ display_name: `Listed ${tag} ${i}`, external_id: `l${i}-${tag}` }));
      const names: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await call({
          method: 'GET',
          url: '/v1/groups',
          query: { q: `listed ${tag}`, limit: '2', ...(cursor ? { cursor } : {}) },
        });
        assert.equal(res.statusCode, 200, res.body);
        const page = json<Page<GroupJson>>(res);
        names.push(...page.data.map((g) => g.display_name));
        cursor = page.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(
        names,
        made.map((g) => g.display_name),
      );
      const byName = json<Page<GroupJson>>(
        await call({ method: 'GET', url: '/v1/groups', query: { display_name: `LISTED ${tag.toUpperCase()} 3` } }),
      );
      assert.deepEqual(
        byName.data.map((g) => g.id),
        [made[3]!.id],
      );
      const byExternal = json<Page<GroupJson>>(await call({ method: 'GET', url: '/v1/groups', query: { external_id: `l1-${tag}` } }));
      assert.deepEqual(
        byExternal.data.map((g) => g.id),
        [made[1]!.id],
      );
      const first = json<Page<GroupJson>>(await call({ method: 'GET', url: '/v1/groups', query: { limit: '1' } }));
      const moved = await call({ method: 'GET', url: '/v1/groups', query: { q: 'x', cursor: first.next_cursor! } });
      assertProblem(fromInject(moved), 'invalid-cursor');
      assertProblem(fromInject(await call({ method: 'GET', url: '/v1/groups', query: { limit: '0' } })), 'validation');
    });

    test('PATCH 200 merge patch with If-Match, 412 stale, 409 taken, 400 bad field, 404', async () => {
      const g = await newGroup({ external_id: `p-${unique()}`, attributes: { a: 1, b: 2 } });
      const patched = await call({
        method: 'PATCH',
        url: `/v1/groups/${g.id}`,
        headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
        payload: { external_id: null, attributes: { b: null } },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.headers.etag, '"2"');
      assert.deepEqual([json<GroupJson>(patched).external_id, json<GroupJson>(patched).attributes], [null, { a: 1 }]);
      const stale = await call({
        method: 'PATCH',
        url: `/v1/groups/${g.id}`,
        headers: { 'if-match': '"1"' },
        payload: { display_name: 'X' },
      });
      assertProblem(fromInject(stale), 'version-mismatch');
      const other = await newGroup();
      assertProblem(
        fromInject(await call({ method: 'PATCH', url: `/v1/groups/${g.id}`, payload: { display_name: other.display_name } })),
        'group-name-taken',
      );
      assertProblem(fromInject(await call({ method: 'PATCH', url: `/v1/groups/${g.id}`, payload: { display_name: null } })), 'validation', {
        pointers: ['/display_name'],
      });
      assertProblem(
        fromInject(await call({ method: 'PATCH', url: `/v1/groups/${uuidv7()}`, payload: { display_name: 'Y' } })),
        'group-not-found',
      );
    });

    test('members: add 200 (repeats no-ops), 422 unknown, list by cursor, remove batch, remove one 204/404, user groups', async () => {
      const users = [await newUser(), await newUser(), await newUser()];
      const g = await newGroup();
      const add = await call({ method: 'POST', url: `/v1/groups/${g.id}/members`, payload: { user_ids: [users[0], users[1], users[0]] } });
      assert.equal(add.statusCode, 200, add.body);
      assert.equal(json<GroupJson>(add).member_count, 2);
      assert.equal(add.headers.etag, '"2"');
      const again = await call({ method: 'POST', url: `/v1/groups/${g.id}/members`, payload: { user_ids: [users[1]] } });
      assert.equal(again.headers.etag, '"2"', 'nothing changed: same version');
      const ghost = uuidv7();
      assertProblem(
        fromInject(await call({ method: 'POST', url: `/v1/groups/${g.id}/members`, payload: { user_ids: [users[2], ghost] } })),
        'member-not-found',
      );
      assertProblem(
        fromInject(
          await call({
            method: 'POST',
            url: `/v1/groups/${g.id}/members`,
            payload: { user_ids: Array.from({ length: 1001 }, () => uuidv7()) },
          }),
        ),
        'validation',
      );
      assertProblem(
        fromInject(await call({ method: 'POST', url: `/v1/groups/${uuidv7()}/members`, payload: { user_ids: [users[0]] } })),
        'group-not-found',
      );
      assertProblem(
        fromInject(
          await call({
            method: 'POST',
            url: `/v1/groups/${g.id}/members`,
            headers: { 'if-match': '"1"' },
            payload: { user_ids: [users[2]] },
          }),
        ),
        'version-mismatch',
      );
      await call({ method: 'POST', url: `/v1/groups/${g.id}/members`, payload: { user_ids: [users[2]] } });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await call({ method: 'GET', url: `/v1/groups/${g.id}/members`, query: { limit: '2', ...(cursor ? { cursor } : {}) } });
        assert.equal(res.statusCode, 200, res.body);
        const page = json<Page<{ id: string; email: string; name: string }>>(res);
        seen.push(...page.data.map((m) => m.id));
        assert.ok(page.data.every((m) => m.email.endsWith('@example.com') && m.name === 'Member'));
        cursor = page.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(seen, [...users].sort());
      assertProblem(fromInject(await call({ method: 'GET', url: `/v1/groups/${uuidv7()}/members` })), 'group-not-found');
      const groupsOf = json<Page<GroupJson>>(await call({ method: 'GET', url: `/v1/users/${users[0]}/groups` }));
      assert.deepEqual(
        groupsOf.data.map((x) => x.id),
        [g.id],
      );
      assertProblem(fromInject(await call({ method: 'GET', url: `/v1/users/${uuidv7()}/groups` })), 'user-not-found');
      const removed = await call({ method: 'POST', url: `/v1/groups/${g.id}/members/remove`, payload: { user_ids: [users[0], ghost] } });
      assert.equal(removed.statusCode, 200, removed.body);
      assert.equal(json<GroupJson>(removed).member_count, 2);
      const one = await call({ method: 'DELETE', url: `/v1/groups/${g.id}/members/${users[1]}` });
      assert.equal(one.statusCode, 204, one.body);
      assertProblem(fromInject(await call({ method: 'DELETE', url: `/v1/groups/${g.id}/members/${users[1]}` })), 'membership-not-found');
      assertProblem(fromInject(await call({ method: 'DELETE', url: `/v1/groups/${g.id}/members/bad` })), 'validation');
    });

    test('DELETE 204 with If-Match, 412 stale, 404 after', async () => {
      const g = await newGroup();
      assertProblem(
        fromInject(await call({ method: 'DELETE', url: `/v1/groups/${g.id}`, headers: { 'if-match': '"7"' } })),
        'version-mismatch',
      );
      assert.equal((await call({ method: 'DELETE', url: `/v1/groups/${g.id}`, headers: { 'if-match': '"1"' } })).statusCode, 204);
      assertProblem(fromInject(await call({ method: 'DELETE', url: `/v1/groups/${g.id}` })), 'group-not-found');
    });

    test('scopes: groups:read reads, only groups:write writes, users scopes do neither', async () => {
      const reader = (await t.auth.keyWith(['groups:read'])).key;
      const writer = (await t.auth.keyWith(['groups:write'])).key;
      const usersOnly = (await t.auth.keyWith(['users:read', 'users:write'])).key;
      const as = (key: string) => ({ authorization: `Bearer ${key}` });
      const g = await newGroup();
      assert.equal((await call({ method: 'GET', url: `/v1/groups/${g.id}`, headers: as(reader) })).statusCode, 200);
      assertProblem(
        fromInject(await call({ method: 'POST', url: '/v1/groups', headers: as(reader), payload: { display_name: `R ${unique()}` } })),
        'forbidden',
      );
      assert.equal(
        (await call({ method: 'POST', url: '/v1/groups', headers: as(writer), payload: { display_name: `W ${unique()}` } })).statusCode,
        201,
      );
      assertProblem(fromInject(await call({ method: 'GET', url: '/v1/groups', headers: as(usersOnly) })), 'forbidden');
      assertProblem(fromInject(await call({ method: 'GET', url: `/v1/users/${uuidv7()}/groups`, headers: as(usersOnly) })), 'forbidden');
    });

    test('the feed and its type filter carry the group events', async () => {
      const user = await newUser();
      const g = await newGroup({ member_ids: [user] });
      await call({ method: 'PATCH', url: `/v1/groups/${g.id}`, payload: { attributes: { x: 1 } } });
      await call({ method: 'POST', url: `/v1/groups/${g.id}/members/remove`, payload: { user_ids: [user] } });
      await call({ method: 'DELETE', url: `/v1/groups/${g.id}` });
      const types = 'group.created,group.updated,group.deleted,group.members_added,group.members_removed';
      const events: { type: string; subject_id: string }[] = [];
      let after = '0';
      for (;;) {
        const res = await call({ method: 'GET', url: '/v1/events', query: { type: types, after, limit: '500' } });
        assert.equal(res.statusCode, 200, res.body);
        const page = json<{ data: { type: string; subject_id: string }[]; next_after: string | number }>(res);
        events.push(...page.data);
        if (page.data.length === 0) break;
        after = String(page.next_after);
      }
      assert.deepEqual(
        events.filter((e) => e.subject_id === g.id).map((e) => e.type),
        ['group.created', 'group.members_added', 'group.updated', 'group.members_removed', 'group.deleted'],
      );
      const endpoint = await call({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        payload: { url: 'https://hooks.example.com/roster', event_types: ['group.members_added', 'group.members_removed'] },
      });
      assert.equal(endpoint.statusCode, 201, endpoint.body);
    });
  });
}
