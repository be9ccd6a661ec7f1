// SCIM over the real directory (compose/scim.ts over UsersService and GroupsService), served on
// a real port on a SQLite file and on PostgreSQL: the provider flows of flows.ts unchanged, then what only the real directory can show (the same
// user through REST, the event stream, memberships after a deletion, concurrent member PATCHes).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { appOver, testAuth } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { assertScimError, call, entraFlow, errorFlow, googleFlow, oktaFlow, type ScimTarget, rest, type Rest } from './flows.js';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const q = (filter: string) => encodeURIComponent(filter);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field, as a client reads them
type Json = any;

interface FeedEvent {
  readonly type: string;
  readonly subject_id: string;
  readonly actor: string | null;
  readonly request_id: string | null;
  readonly data: Json;
}

/** Every event in the feed (the test databases are fresh: a few thousand at most). */
async function allEvents(r: Rest): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  let after = '0';
  for (;;) {
    const page = await rest(r, 'GET', `/v1/events?after=${after}&limit=1000`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...page.body.data);
    if (page.body.data.length < 1000) return events;
    after = page.body.next_after;
  }
}

async function scimUser(t: ScimTarget, email: string): Promise<string> {
  const created = await call(t, 'POST', '/Users', { body: { schemas: [USER], userName: email } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

for (const [name, open, skip] of await dialects()) {
  describe(`SCIM on ${name}`, { skip }, () => {
    let testDb: TestDatabase;
    let app: FastifyInstance;
    let target: ScimTarget;
    let api: Rest;
    let scimKeyId: string;

    before(async () => {
      testDb = await open();
      app = await appOver(testDb.database);
      const auth = await testAuth(testDb.database);
      const { key, id } = await auth.keyWith(['scim']);
      scimKeyId = id;
      // A port the kernel picks: free, so suites (and sessions) running at once never collide.
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      target = { base: `${address}/scim/v2`, token: key };
      api = { base: address, key: auth.adminKey };
    });

    after(async () => {
      await app?.close();
      await testDb?.cleanup();
    });

    test("Okta's SCIM 2.0 test flow", () => oktaFlow(target));
    test("Entra ID's provisioning requests", () => entraFlow(target));
    test("Google Workspace's discovery and create", () => googleFlow(target));
    test('errors are SCIM errors with the RFC scimTypes', () => errorFlow(target));

    test('a user created by SCIM is the user REST returns, and its events are in the feed', async () => {
      const email = `same.${randomUUID().slice(0, 8)}@example.com`;
      const created = await call(target, 'POST', '/Users', {
        body: {
          schemas: [USER],
          userName: email,
          externalId: `ext-${email}`,
          name: { givenName: 'Same', familyName: 'Person' },
          title: 'Engineer',
          phoneNumbers: [{ value: '+1 555 0101', type: 'work' }],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const viaRest = await rest(api, 'GET', `/v1/users/${created.body.id}`);
      assert.equal(viaRest.status, 200);
      assert.equal(viaRest.body.email, email);
      assert.equal(viaRest.body.external_id, `ext-${email}`);
      assert.equal(viaRest.body.given_name, 'Same');
      assert.equal(viaRest.body.family_name, 'Person');
      assert.equal(viaRest.body.name, 'Same Person');
      assert.equal(viaRest.body.active, true);
      assert.deepEqual(viaRest.body.profile, { title: 'Engineer', phone_numbers: [{ value: '+1 555 0101', type: 'work' }] });
      assert.equal(`W/"${viaRest.body.version}"`, created.body.meta.version);

      // A REST change is what SCIM reads next; a SCIM PUT keeps the REST caller's attributes.
      assert.equal((await rest(api, 'PATCH', `/v1/users/${created.body.id}`, { attributes: { team: 'core' } })).status, 200);
      const put = await call(target, 'PUT', `/Users/${created.body.id}`, {
        body: { schemas: [USER], userName: email, name: { givenName: 'Same' }, active: true },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.title, undefined, 'PUT replaces the profile: title is gone');
      const afterPut = await rest(api, 'GET', `/v1/users/${created.body.id}`);
      assert.deepEqual(afterPut.body.attributes, { team: 'core' });
      assert.deepEqual(afterPut.body.profile, {});
      assert.equal(afterPut.body.family_name, null);

      const events = (await allEvents(api)).filter((e) => e.subject_id === created.body.id);
      assert.deepEqual(
        events.map((e) => e.type),
        ['user.created', 'user.updated', 'user.updated'],
      );
      assert.equal(events[0]!.data.user.email, email);
      // Written as REST writes them: by the SCIM key, under the request's id.
      assert.equal(events[0]!.actor, `key:${scimKeyId}`);
      assert.equal(events[2]!.actor, `key:${scimKeyId}`);
      assert.equal(events[1]!.actor?.startsWith('key:'), true);
      assert.notEqual(events[1]!.actor, `key:${scimKeyId}`, 'the REST change is the admin key’s');
      assert.ok(events.every((e) => typeof e.request_id === 'string' && e.request_id.length > 0));
    });

    test('deactivate then delete leaves the directory and the event stream right; the user leaves every group', async () => {
      const email = `leaver.${randomUUID().slice(0, 8)}@example.com`;
      const id = await scimUser(target, email);
      const other = await scimUser(target, `stayer.${randomUUID().slice(0, 8)}@example.com`);
      const groupIds: string[] = [];
      for (const n of [1, 2]) {
        const g = await call(target, 'POST', '/Groups', {
          body: { displayName: `Leavers ${n} ${randomUUID().slice(0, 8)}`, members: [{ value: id }, { value: other }] },
        });
        assert.equal(g.status, 201, JSON.stringify(g.body));
        groupIds.push(g.body.id);
      }
      const memberOf = await call(target, 'GET', `/Groups?filter=${q(`members[value eq "${id}"]`)}&excludedAttributes=members`);
      assert.equal(memberOf.body.totalResults, 2);
      assert.deepEqual((memberOf.body.Resources as { id: string }[]).map((g) => g.id).sort(), [...groupIds].sort());

      const deactivated = await call(target, 'PATCH', `/Users/${id}`, {
        body: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
      });
      assert.equal(deactivated.status, 200);
      assert.equal((await rest(api, 'GET', `/v1/users/${id}`)).body.active, false);
      const inactive = await rest(api, 'GET', `/v1/users?active=false&email=${encodeURIComponent(email)}`);
      assert.equal(inactive.body.data.length, 1, 'an inactive user stays listable and filterable');

      assert.equal((await call(target, 'DELETE', `/Users/${id}`)).status, 204);
      assert.equal((await rest(api, 'GET', `/v1/users/${id}`)).status, 404);
      assertScimError(await call(target, 'GET', `/Users/${id}`), 404);
      for (const gid of groupIds) {
        const members = await rest(api, 'GET', `/v1/groups/${gid}/members`);
        assert.deepEqual(
          (members.body.data as { user_id?: string; id?: string }[]).map((m) => m.user_id ?? m.id),
          [other],
        );
        const viaScim = await call(target, 'GET', `/Groups/${gid}`);
        assert.deepEqual(
          (viaScim.body.members as { value: string }[]).map((m) => m.value),
          [other],
        );
      }
      const noGroups = await call(target, 'GET', `/Groups?filter=${q(`members[value eq "${id}"]`)}`);
      assert.equal(noGroups.status, 200);
      assert.equal(noGroups.body.totalResults, 0);

      const events = await allEvents(api);
      const mine = events.filter((e) => e.subject_id === id).map((e) => e.type);
      assert.deepEqual(mine, ['user.created', 'user.updated', 'user.deleted']);
      const deactivation = events.find((e) => e.subject_id === id && e.type === 'user.updated')!;
      assert.deepEqual(deactivation.data.changed, ['active']);
      const left = events.filter((e) => e.type === 'group.members_removed' && (e.data.user_ids as string[]).includes(id));
      assert.deepEqual(left.map((e) => e.data.group_id as string).sort(), [...groupIds].sort());
      assert.ok(left.every((e) => e.data.reason === 'user_deleted'));
    });

    test('two concurrent member PATCHes of one group (2 × 200 different members) both land', async () => {
      const tag = randomUUID().slice(0, 8);
      const ids: string[] = [];
      for (let i = 0; i < 400; i++) {
        const created = await rest(api, 'POST', '/v1/users', { email: `c${i}.${tag}@example.com`, name: `C ${i}` });
        assert.equal(created.status, 201);
        ids.push(created.body.id);
      }
      const group = await call(target, 'POST', '/Groups', { body: { displayName: `Concurrent ${tag}` } });
      const patch = (members: string[]) =>
        call(target, 'PATCH', `/Groups/${group.body.id}`, {
          body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: members.map((value) => ({ value })) }] },
        });
      const [a, b] = await Promise.all([patch(ids.slice(0, 200)), patch(ids.slice(200))]);
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(b.status, 200, JSON.stringify(b.body));
      const read = await call(target, 'GET', `/Groups/${group.body.id}`);
      assert.deepEqual((read.body.members as { value: string }[]).map((m) => m.value).sort(), [...ids].sort());
      assert.equal(read.body.meta.version, 'W/"3"', 'two changes, two versions');
      const viaRest = await rest(api, 'GET', `/v1/groups/${group.body.id}`);
      assert.equal(viaRest.body.member_count, 400);
      const added = (await allEvents(api)).filter((e) => e.type === 'group.members_added' && e.subject_id === group.body.id);
      assert.deepEqual(added.flatMap((e) => e.data.user_ids as string[]).sort(), [...ids].sort());
      assert.ok(added.every((e) => e.actor === `key:${scimKeyId}`));
    });

    test('concurrent PATCHes of one user, each changing another attribute, both land', async () => {
      const id = await scimUser(target, `race.${randomUUID().slice(0, 8)}@example.com`);
      const set = (path: string, value: string) =>
        call(target, 'PATCH', `/Users/${id}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path, value }] } });
      const answers = await Promise.all([
        set('title', 'Chief'),
        set('nickName', 'Nick'),
        set('userType', 'Employee'),
        set('locale', 'fr-FR'),
      ]);
      for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const read = await call(target, 'GET', `/Users/${id}`);
      assert.equal(read.body.title, 'Chief');
      assert.equal(read.body.nickName, 'Nick');
      assert.equal(read.body.userType, 'Employee');
      assert.equal(read.body.locale, 'fr-FR');
      assert.equal(read.body.meta.version, 'W/"5"');
    });

    test('a group PUT applies the difference of members; a group DELETE is one group.deleted event', async () => {
      const tag = randomUUID().slice(0, 8);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await scimUser(target, `put${i}.${tag}@example.com`));
      const group = await call(target, 'POST', '/Groups', {
        body: { displayName: `Put ${tag}`, externalId: `put-${tag}`, members: ids.slice(0, 2).map((value) => ({ value })) },
      });
      assert.equal(group.status, 201);
      const put = await call(target, 'PUT', `/Groups/${group.body.id}`, {
        body: { displayName: `Put ${tag} renamed`, members: [ids[1], ids[2], ids[3]].map((value) => ({ value })) },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.externalId, undefined, 'PUT without externalId removes it');
      const viaRest = await rest(api, 'GET', `/v1/groups/${group.body.id}`);
      assert.equal(viaRest.body.display_name, `Put ${tag} renamed`);
      assert.equal(viaRest.body.external_id, null);
      assert.equal(viaRest.body.member_count, 3);
      assert.equal(viaRest.body.version, 2, 'fields and members in one change');
      const events = (await allEvents(api)).filter((e) => e.subject_id === group.body.id);
      assert.deepEqual(
        events.map((e) => e.type),
        ['group.created', 'group.members_added', 'group.updated', 'group.members_added', 'group.members_removed'],
      );
      assert.deepEqual(events[3]!.data.user_ids, [ids[2], ids[3]]);
      assert.deepEqual(events[4]!.data.user_ids, [ids[0]]);
      assert.equal((await call(target, 'DELETE', `/Groups/${group.body.id}`)).status, 204);
      assert.equal((await rest(api, 'GET', `/v1/groups/${group.body.id}`)).status, 404);
      const last = (await allEvents(api)).filter((e) => e.subject_id === group.body.id).at(-1)!;
      assert.equal(last.type, 'group.deleted');
      assert.equal(last.actor, `key:${scimKeyId}`);
    });

    test('If-Match mismatch is 412; duplicate userName 409 uniqueness; a filter matching nothing 200 with 0', async () => {
      const email = `etag.${randomUUID().slice(0, 8)}@example.com`;
      const created = await call(target, 'POST', '/Users', { body: { schemas: [USER], userName: email } });
      const stale = created.headers.get('etag')!;
      const changed = await call(target, 'PATCH', `/Users/${created.body.id}`, {
        body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'One' }] },
        headers: { 'if-match': stale },
      });
      assert.equal(changed.status, 200);
      assertScimError(
        await call(target, 'PUT', `/Users/${created.body.id}`, {
          body: { schemas: [USER], userName: email },
          headers: { 'if-match': stale },
        }),
        412,
      );
      const group = await call(target, 'POST', '/Groups', { body: { displayName: `Etag ${email}` } });
      const groupTag = group.headers.get('etag')!;
      assert.equal(
        (
          await call(target, 'PATCH', `/Groups/${group.body.id}`, {
            body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: created.body.id }] }] },
            headers: { 'if-match': groupTag },
          })
        ).status,
        200,
      );
      assertScimError(
        await call(target, 'PATCH', `/Groups/${group.body.id}`, {
          body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] },
          headers: { 'if-match': groupTag },
        }),
        412,
      );

      assertScimError(
        await call(target, 'POST', '/Users', { body: { schemas: [USER], userName: email.toUpperCase() } }),
        409,
        'uniqueness',
      );
      const dupExternal = await call(target, 'POST', '/Users', {
        body: { schemas: [USER], userName: `x.${email}`, externalId: 'dup-ext' },
      });
      assert.equal(dupExternal.status, 201);
      assertScimError(
        await call(target, 'POST', '/Users', { body: { schemas: [USER], userName: `y.${email}`, externalId: 'dup-ext' } }),
        409,
        'uniqueness',
      );
      assertScimError(await call(target, 'POST', '/Groups', { body: { displayName: `ETAG ${email}` } }), 409, 'uniqueness');

      for (const filter of [
        `userName eq "nobody.${email}"`,
        `externalId eq "nobody"`,
        `id eq "${randomUUID()}"`,
        'id eq "not-a-uuid"',
        `emails[value eq "nobody.${email}"]`,
      ]) {
        const none = await call(target, 'GET', `/Users?filter=${q(filter)}`);
        assert.equal(none.status, 200, filter);
        assert.equal(none.body.totalResults, 0, filter);
      }
      for (const filter of ['displayName eq "nobody"', 'members[value eq "not-a-uuid"]', `members[value eq "${randomUUID()}"]`]) {
        const none = await call(target, 'GET', `/Groups?filter=${q(filter)}`);
        assert.equal(none.status, 200, filter);
        assert.equal(none.body.totalResults, 0, filter);
      }
      assertScimError(await call(target, 'GET', `/Users?filter=${q('meta.lastModified gt "2020-01-01T00:00:00Z"')}`), 400, 'invalidFilter');
      const bounded = await call(
        target,
        'GET',
        `/Users?filter=${q(`userName eq "${email}" and meta.lastModified gt "2020-01-01T00:00:00Z"`)}`,
      );
      assert.equal(bounded.body.totalResults, 1);
    });

    test('malformed ids are 404, never a 500 from the database', async () => {
      for (const path of ['/Users/not-a-uuid', '/Groups/not-a-uuid', `/Users/${randomUUID()}`]) {
        assertScimError(await call(target, 'GET', path), 404);
        assertScimError(await call(target, 'DELETE', path), 404);
        assertScimError(await call(target, 'PUT', path, { body: { schemas: [USER], userName: 'a@example.com', displayName: 'x' } }), 404);
        assertScimError(
          await call(target, 'PATCH', path, {
            body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] },
          }),
          404,
        );
      }
      const group = await call(target, 'POST', '/Groups', { body: { displayName: `Ids ${randomUUID()}` } });
      assertScimError(
        await call(target, 'PATCH', `/Groups/${group.body.id}`, {
          body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: 'not-a-uuid' }] }] },
        }),
        400,
        'invalidValue',
      );
      assertScimError(
        await call(target, 'PATCH', `/Groups/${group.body.id}`, {
          body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: randomUUID() }] }] },
        }),
        400,
        'invalidValue',
      );
    });

    test('unfiltered lists page by position with exact totals, users and groups', async () => {
      const total = (await call(target, 'GET', '/Users?count=0')).body.totalResults as number;
      assert.ok(total > 0);
      const seen: string[] = [];
      for (let start = 1; start <= total; start += 7) {
        const page = await call(target, 'GET', `/Users?startIndex=${start}&count=7&attributes=userName`);
        assert.equal(page.body.totalResults, total);
        assert.equal(page.body.startIndex, start);
        seen.push(...(page.body.Resources as { id: string }[]).map((u) => u.id));
      }
      assert.equal(seen.length, total);
      assert.deepEqual([...seen].sort(), seen, 'in id order');
      assert.equal(new Set(seen).size, total);
      const beyond = await call(target, 'GET', `/Users?startIndex=${total + 5}&count=10`);
      assert.equal(beyond.body.totalResults, total);
      assert.deepEqual(beyond.body.Resources, []);
      const groups = await call(target, 'GET', '/Groups?startIndex=2&count=1&excludedAttributes=members');
      const allGroups = await call(target, 'GET', '/Groups?excludedAttributes=members');
      assert.equal(groups.body.totalResults, allGroups.body.totalResults);
      assert.equal(groups.body.Resources[0].id, allGroups.body.Resources[1].id);
    });
  });
}
