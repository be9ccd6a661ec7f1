// SCIM over the real directory on a SQLite file and on PostgreSQL, served on a real port (this
// branch's range, 26140–26149): what must hold while a provider and other writers race — a group
// PUT beside a member PATCH, unfiltered pages while users come and go — and that every value a
// provider sends reads back the same, through SCIM and through REST.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { appOver, testAuth } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { call, type Answer, type ScimTarget, rest, type Rest } from './flows.js';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PORTS: Record<string, number> = { sqlite: 26140, postgres: 26141 };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field, as a client reads them
type Json = any;

/** The events of one subject, in feed order (the feed is read whole: the test databases are small). */
async function eventsOf(r: Rest, subject: string): Promise<Json[]> {
  const events: Json[] = [];
  let after = '0';
  for (;;) {
    const page = await rest(r, 'GET', `/v1/events?after=${after}&limit=1000`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...(page.body.data as Json[]).filter((e) => e.subject_id === subject));
    if (page.body.data.length < 1000) return events;
    after = page.body.next_after;
  }
}

const versionOf = (answer: Answer) => Number(/^W\/"(\d+)"$/.exec(answer.body.meta.version as string)![1]);
const sorted = (ids: Iterable<string>) => [...ids].sort();

for (const [name, open, skip] of await dialects()) {
  describe(`SCIM consistency on ${name}`, { skip }, () => {
    let testDb: TestDatabase;
    let app: FastifyInstance;
    let target: ScimTarget;
    let api: Rest;

    before(async () => {
      testDb = await open();
      app = await appOver(testDb.database);
      const auth = await testAuth(testDb.database);
      const { key } = await auth.keyWith(['scim']);
      await app.listen({ host: '127.0.0.1', port: PORTS[name]! });
      target = { base: `http://127.0.0.1:${PORTS[name]}/scim/v2`, token: key };
      api = { base: `http://127.0.0.1:${PORTS[name]}`, key: auth.adminKey };
    });

    after(async () => {
      await app?.close();
      await testDb?.cleanup();
    });

    async function newUser(email: string, extra: Record<string, unknown> = {}): Promise<string> {
      const created = await call(target, 'POST', '/Users', { body: { schemas: [USER], userName: email, ...extra } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    }

    test('name.formatted reads back as sent, through SCIM and through REST (profile.formatted_name)', async () => {
      const email = `formatted.${randomUUID().slice(0, 8)}@example.com`;
      const name = { formatted: 'Ms. Barbara J Jensen, III', givenName: 'Barbara', familyName: 'Jensen' };
      const id = await newUser(email, { name, displayName: 'Babs' });
      const viaScim = await call(target, 'GET', `/Users/${id}`);
      assert.deepEqual(viaScim.body.name, name);
      assert.equal(viaScim.body.displayName, 'Babs', 'the display name stays apart');
      const viaRest = await rest(api, 'GET', `/v1/users/${id}`);
      assert.equal(viaRest.body.profile.formatted_name, name.formatted);
      assert.equal(viaRest.body.name, 'Babs');

      // Entra's cycle: the same PUT again is no change; a REST change is what SCIM reads next.
      const put = await call(target, 'PUT', `/Users/${id}`, { body: { schemas: [USER], userName: email, name, displayName: 'Babs' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body.name, name);
      const patched = await rest(api, 'PATCH', `/v1/users/${id}`, { profile: { formatted_name: 'Barbara Jensen' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal((await call(target, 'GET', `/Users/${id}`)).body.name.formatted, 'Barbara Jensen');
      const cleared = await call(target, 'PATCH', `/Users/${id}`, {
        body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'name.formatted' }] },
      });
      assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
      assert.equal(cleared.body.name.formatted, undefined);
      assert.equal((await rest(api, 'GET', `/v1/users/${id}`)).body.profile.formatted_name, undefined);
      const tooLong = await rest(api, 'PATCH', `/v1/users/${id}`, { profile: { formatted_name: 'x'.repeat(1025) } });
      assert.equal(tooLong.status, 400, 'validated like the rest of the profile');
    });

    test('a group PUT racing a member PATCH: the final members are the two applied in commit order, with matching events', async () => {
      const tag = randomUUID().slice(0, 8);
      const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => newUser(`${n}.race.${tag}@example.com`)));
      // The PUT keeps a and adds c; the PATCH removes a and adds d. Applied one after the other
      // in either order they give different members, and an interleaving (a PUT computing its
      // difference from members read before the PATCH committed) gives a third.
      const putList = [a!, c!];
      const applyPatch = (members: Set<string>) => new Set([...members].filter((m) => m !== a).concat(d!));
      for (let round = 0; round < 12; round++) {
        const group = await call(target, 'POST', '/Groups', {
          body: { displayName: `Race ${tag} ${round}`, members: [a, b].map((value) => ({ value })) },
        });
        assert.equal(group.status, 201, JSON.stringify(group.body));
        const id = group.body.id as string;
        const [put, patch] = await Promise.all([
          call(target, 'PUT', `/Groups/${id}`, {
            body: { displayName: `Race ${tag} ${round}`, members: putList.map((value) => ({ value })) },
          }),
          call(target, 'PATCH', `/Groups/${id}`, {
            body: {
              schemas: [PATCH_OP],
              Operations: [
                { op: 'remove', path: `members[value eq "${a}"]` },
                { op: 'add', path: 'members', value: [{ value: d }] },
              ],
            },
          }),
        ]);
        assert.equal(put.status, 200, JSON.stringify(put.body));
        assert.equal(patch.status, 200, JSON.stringify(patch.body));
        const putFirst = versionOf(put) < versionOf(patch);
        assert.deepEqual([versionOf(put), versionOf(patch)].sort(), [2, 3], 'two changes, one version each');

        const initial = new Set([a!, b!]);
        const afterPut = new Set(putList);
        const expected = putFirst ? applyPatch(afterPut) : afterPut;
        const read = await call(target, 'GET', `/Groups/${id}`);
        const members = ((read.body.members as { value: string }[] | undefined) ?? []).map((m) => m.value);
        assert.deepEqual(sorted(members), sorted(expected), `round ${round}: ${putFirst ? 'PUT then PATCH' : 'PATCH then PUT'}`);

        // Each version's membership events are exactly the difference it made, in commit order.
        const states = putFirst ? [initial, afterPut, expected] : [initial, applyPatch(initial), expected];
        const events = (await eventsOf(api, id)).filter((e) => String(e.type).startsWith('group.members_'));
        for (const version of [2, 3]) {
          const [before, after] = [states[version - 2]!, states[version - 1]!];
          const at = events.filter((e) => e.data.version === version);
          const ids = (type: string) => sorted(at.filter((e) => e.type === type).flatMap((e) => e.data.user_ids as string[]));
          assert.deepEqual(
            ids('group.members_added'),
            sorted([...after].filter((m) => !before.has(m))),
            `round ${round} v${version} added`,
          );
          assert.deepEqual(
            ids('group.members_removed'),
            sorted([...before].filter((m) => !after.has(m))),
            `round ${round} v${version} removed`,
          );
        }
      }
    });

    test('a full sync by startIndex while users are created and deleted between pages: every user present throughout, once', async () => {
      const tag = randomUUID().slice(0, 8);
      for (let i = 0; i < 30; i++) await newUser(`sync${i}.${tag}@example.com`);
      const present = await call(target, 'GET', '/Users?count=200&attributes=userName');
      assert.ok(present.body.totalResults < 200, 'one page holds them all');
      const seen: string[] = [];
      const deleted = new Set<string>();
      const count = 7;
      for (let start = 1; ; start += count) {
        const page = await call(target, 'GET', `/Users?startIndex=${start}&count=${count}&attributes=userName`);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        const ids = (page.body.Resources as { id: string }[]).map((u) => u.id);
        seen.push(...ids);
        if (ids.length < count) break;
        // Between pages: a user already read leaves (offsets shift by one) and a new one arrives.
        const gone = seen[seen.length - 3]!;
        if (!deleted.has(gone)) {
          assert.equal((await call(target, 'DELETE', `/Users/${gone}`)).status, 204);
          deleted.add(gone);
        }
        await newUser(`late${start}.${tag}@example.com`);
      }
      assert.equal(new Set(seen).size, seen.length, 'no user twice');
      assert.deepEqual([...seen].sort(), seen, 'in id order');
      // Offsets alone would skip one user per deletion before the position; seeking by id skips none.
      for (const { id } of present.body.Resources as { id: string }[]) assert.ok(deleted.has(id) || seen.includes(id), `${id} was missed`);
      // A page nobody ended at (a cache miss) still gives the page by position.
      const total = (await call(target, 'GET', '/Users?count=0')).body.totalResults as number;
      const everyone: string[] = [];
      for (let start = 1; start <= total; start += 50) {
        everyone.push(
          ...(
            (await call(target, 'GET', `/Users?startIndex=${start}&count=50&attributes=userName`)).body.Resources as { id: string }[]
          ).map((u) => u.id),
        );
      }
      const odd = await call(target, 'GET', `/Users?startIndex=4&count=3&attributes=userName`);
      assert.deepEqual(
        (odd.body.Resources as { id: string }[]).map((u) => u.id),
        everyone.slice(3, 6),
      );
    });
  });
}
