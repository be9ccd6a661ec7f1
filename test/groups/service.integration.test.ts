// GroupsService over the stores the composition builds for each dialect: the rules that need a database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type { Services } from '../../src/compose/services.js';
import type { StoredEvent } from '../../src/events/model.js';
import {
  GroupExternalIdTakenError,
  GroupNameTakenError,
  GroupNotFoundError,
  GroupVersionMismatchError,
  MembersNotFoundError,
  NotAMemberError,
} from '../../src/groups/errors.js';
import type { Group } from '../../src/groups/model.js';
import { InvalidCursorError } from '../../src/kit/cursor.js';
import { ValidationError } from '../../src/kit/errors.js';
import { IdempotencyKeyReusedError, UserNotFoundError } from '../../src/users/errors.js';
import { servicesOver } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

const unique = () => uuidv7().slice(-12);

for (const [dialect, open, skip] of await dialects()) {
  describe(`GroupsService on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let services: Services;
    before(async () => {
      testDb = await open();
      services = await servicesOver(testDb.database);
    });
    after(async () => {
      await services?.close();
      await testDb?.cleanup();
    });

    const newUsers = async (n: number): Promise<string[]> => {
      const tag = unique();
      const ids: string[] = [];
      for (let i = 0; i < n; i++)
        ids.push((await services.users.create({ email: `m${i}-${tag}@example.com`, name: `Member ${i}` }, undefined)).user.id);
      return ids;
    };
    const newGroup = async (extra: Record<string, unknown> = {}) =>
      (await services.groups.create({ display_name: `Group ${unique()}`, ...extra })).group;
    /** Every event after `after` about `subject`, in sequence order. */
    const eventsOf = async (subject: string, afterSeq: number): Promise<StoredEvent[]> => {
      const out: StoredEvent[] = [];
      let cursor = String(afterSeq);
      for (;;) {
        const page = await services.events.feed({ after: cursor, limit: 1000 });
        out.push(...page.events.filter((e) => e.subjectId === subject));
        if (page.events.length < 1000) return out;
        cursor = String(page.nextAfter);
      }
    };
    const lastSeq = async () => {
      let after = 0;
      for (;;) {
        const page = await services.events.feed({ after: String(after), limit: 1000 });
        if (page.events.length === 0) return after;
        after = page.nextAfter;
      }
    };

    test('a group is created with its members and its events, in one go', async () => {
      const members = await newUsers(3);
      const seq = await lastSeq();
      const { group } = await services.groups.create({
        display_name: ` Research ${unique()} `,
        external_id: `ext-${unique()}`,
        member_ids: [...members, members[0]],
      });
      assert.equal(group.memberCount, 3);
      assert.equal(group.version, 1);
      assert.equal(group.displayName, group.displayName.trim());
      assert.deepEqual(await services.groups.get(group.id), group);
      const events = await eventsOf(group.id, seq);
      assert.deepEqual(
        events.map((e) => e.type),
        ['group.created', 'group.members_added'],
      );
      assert.deepEqual(events[1]!.data.user_ids, members);
      const page = await services.groups.members(group.id, { limit: 10 });
      assert.deepEqual(
        page.items.map((m) => m.userId),
        [...members].sort(),
      );
    });

    test('display names are unique under the email fold, external ids exactly; nothing half-made', async () => {
      const tag = unique();
      await services.groups.create({ display_name: `Straße ${tag}`, external_id: `X-${tag}` });
      await assert.rejects(services.groups.create({ display_name: `STRASSE ${tag.toUpperCase()}` }), GroupNameTakenError);
      await assert.rejects(services.groups.create({ display_name: `Other ${tag}`, external_id: `X-${tag}` }), GroupExternalIdTakenError);
      const { group: lower } = await services.groups.create({ display_name: `Lower ${tag}`, external_id: `x-${tag}` });
      assert.equal(lower.externalId, `x-${tag}`, 'external ids compare exactly');
      assert.equal((await services.groups.findByDisplayName(`strasse ${tag}`))?.externalId, `X-${tag}`);
      assert.equal((await services.groups.findByExternalId(`X-${tag}`))?.displayName, `Straße ${tag}`);
      assert.equal(await services.groups.findByExternalId(`X-${tag}`.toLowerCase().replace('x', 'y')), undefined);
      await assert.rejects(services.groups.create({ display_name: `Nobody ${tag}`, member_ids: [uuidv7()] }), MembersNotFoundError);
      assert.equal(await services.groups.findByDisplayName(`Nobody ${tag}`), undefined);
      await assert.rejects(services.groups.create({ display_name: '  ', external_id: '' }), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.deepEqual(
          e.errors.map((x) => x.pointer),
          ['/display_name', '/external_id'],
        );
        return true;
      });
    });

    test('lists walk in id order, search walks a name prefix in key order, cursors are bound to their filters', async () => {
      const tag = unique();
      const made: Group[] = [];
      for (let i = 0; i < 7; i++)
        made.push(
          (await services.groups.create({ display_name: `Walk ${tag} ${String.fromCharCode(0x67 - i)}`, external_id: `w${i}-${tag}` }))
            .group,
        );
      const walked: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await services.groups.list({ limit: 3, q: `walk ${tag.toUpperCase()}`, cursor });
        walked.push(...page.items.map((g) => g.displayName));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      assert.deepEqual(walked, made.map((g) => g.displayName).reverse());
      const first = await services.groups.list({ limit: 3, q: `walk ${tag}` });
      await assert.rejects(services.groups.list({ limit: 3, cursor: first.nextCursor! }), InvalidCursorError);
      const all: string[] = [];
      cursor = undefined;
      do {
        const page = await services.groups.list({ limit: 50, cursor });
        all.push(...page.items.map((g) => g.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      assert.deepEqual(all, [...all].sort());
      for (const g of made) assert.ok(all.includes(g.id));
      assert.deepEqual(
        (await services.groups.list({ limit: 5, externalId: `w3-${tag}` })).items.map((g) => g.id),
        [made[3]!.id],
      );
      assert.deepEqual(
        (await services.groups.list({ limit: 5, displayName: `WALK ${tag.toUpperCase()} D` })).items.map((g) => g.id),
        [made[3]!.id],
      );
      assert.deepEqual((await services.groups.list({ limit: 5, displayName: `walk ${tag} d`, externalId: `w2-${tag}` })).items, []);
    });

    test('adding: present ids are no-ops, an unknown id fails the whole batch listing it', async () => {
      const [a, b, c] = await newUsers(3);
      const group = await newGroup({ member_ids: [a] });
      const ghost = uuidv7();
      await assert.rejects(services.groups.addMembers(group.id, [b, ghost], undefined), (e: unknown) => {
        assert.ok(e instanceof MembersNotFoundError);
        assert.deepEqual(e.userIds, [ghost]);
        return true;
      });
      assert.deepEqual(await services.groups.get(group.id), group, 'nothing applied');
      const seq = await lastSeq();
      const same = await services.groups.addMembers(group.id, [a], undefined);
      assert.equal(same.group.version, group.version, 'a no-op is not a change');
      assert.deepEqual(await eventsOf(group.id, seq), []);
      const { group: after, added } = await services.groups.addMembers(group.id, [a, b, c], [group.version]);
      assert.deepEqual(added, [b, c]);
      assert.equal(after.memberCount, 3);
      assert.equal(after.version, group.version + 1);
      await assert.rejects(services.groups.addMembers(group.id, [a], [group.version]), GroupVersionMismatchError);
      await assert.rejects(services.groups.addMembers(uuidv7(), [a], undefined), GroupNotFoundError);
      await assert.rejects(
        services.groups.addMembers(uuidv7(), [ghost], undefined),
        GroupNotFoundError,
        'a missing group is a 404 before the members',
      );
    });

    test('concurrent member batches on one group all land', async () => {
      const ids = await newUsers(45);
      const group = await newGroup();
      const batches = Array.from({ length: 8 }, (_, i) => ids.slice(i * 5, i * 5 + 5));
      await Promise.all(batches.map((batch) => services.groups.addMembers(group.id, batch, undefined)));
      const now = await services.groups.get(group.id);
      assert.equal(now.memberCount, 40);
      assert.equal(now.version, 1 + 8);
      const members = await services.groups.members(group.id, { limit: 100 });
      assert.equal(members.items.length, 40);
      await Promise.all([
        services.groups.removeMembers(group.id, ids.slice(0, 10), undefined),
        services.groups.removeMembers(group.id, ids.slice(10, 20), undefined),
        services.groups.addMembers(group.id, ids.slice(40, 45), undefined),
      ]);
      const final = await services.groups.get(group.id);
      const left = await services.groups.members(group.id, { limit: 100 });
      assert.equal(final.memberCount, 25);
      assert.equal(left.items.length, 25, 'the kept count is the real count');
      assert.equal(final.version, 1 + 8 + 3);
    });

    test('members page by cursor in user id order; a large change is a few events of at most 1,000 ids', async () => {
      const ids = await newUsers(2100);
      const group = await newGroup();
      const seq = await lastSeq();
      const { group: after } = await services.groups.addMembers(group.id, ids, undefined, {}, null);
      assert.equal(after.memberCount, 2100);
      const events = await eventsOf(group.id, seq);
      assert.deepEqual(
        events.map((e) => (e.data.user_ids as string[]).length),
        [1000, 1000, 100],
      );
      assert.ok(events.every((e) => e.type === 'group.members_added' && e.data.version === after.version));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await services.groups.members(group.id, { limit: 500, cursor });
        seen.push(...page.items.map((m) => m.userId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      assert.deepEqual(seen, [...ids].sort());
      const other = await newGroup();
      const page = await services.groups.members(group.id, { limit: 500 });
      await assert.rejects(services.groups.members(other.id, { limit: 500, cursor: page.nextCursor! }), InvalidCursorError);
    });

    test('replace sets the fields and the whole member list, with the events of what changed', async () => {
      const [a, b, c, d] = await newUsers(4);
      const group = await newGroup({ external_id: `r-${unique()}`, member_ids: [a, b, c] });
      const seq = await lastSeq();
      const name = `Replaced ${unique()}`;
      const replaced = await services.groups.replace(group.id, { display_name: name, member_ids: [c, d] }, [group.version]);
      assert.equal(replaced.displayName, name);
      assert.equal(replaced.externalId, null, 'absent in a replace: removed');
      assert.equal(replaced.memberCount, 2);
      assert.equal(replaced.version, 2);
      const events = await eventsOf(group.id, seq);
      assert.deepEqual(
        events.map((e) => e.type),
        ['group.updated', 'group.members_added', 'group.members_removed'],
      );
      assert.deepEqual(events[0]!.data.changed, ['display_name', 'external_id']);
      assert.deepEqual(events[1]!.data.user_ids, [d]);
      assert.deepEqual([...(events[2]!.data.user_ids as string[])].sort(), [a, b].sort());
      const again = await services.groups.replace(group.id, { display_name: name, member_ids: [d, c] }, undefined);
      assert.equal(again.version, 2, 'the same content is no change');
    });

    test('merge patch, single removal and deletion', async () => {
      const [a, b] = await newUsers(2);
      const group = await newGroup({ external_id: `p-${unique()}`, attributes: { keep: 1, drop: 2 }, member_ids: [a] });
      const patched = await services.groups.update(group.id, { external_id: null, attributes: { drop: null } }, [1]);
      assert.equal(patched.externalId, null);
      assert.deepEqual(patched.attributes, { keep: 1 });
      await assert.rejects(services.groups.update(group.id, { display_name: null, members: [] }, undefined), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.deepEqual(e.errors.map((x) => x.pointer).sort(), ['/display_name', '/members']);
        return true;
      });
      await assert.rejects(services.groups.removeMember(group.id, b!, undefined), NotAMemberError);
      const removed = await services.groups.removeMember(group.id, a!, undefined);
      assert.equal(removed.memberCount, 0);
      await services.groups.addMembers(group.id, [a, b], undefined);
      const seq = await lastSeq();
      await services.groups.delete(group.id, [removed.version + 1]);
      assert.deepEqual(
        (await eventsOf(group.id, seq)).map((e) => e.type),
        ['group.deleted'],
      );
      await assert.rejects(services.groups.get(group.id), GroupNotFoundError);
      assert.deepEqual((await services.groups.groupsOf(a!, { limit: 10 })).items, [], 'memberships went with the group');
      await assert.rejects(services.groups.delete(group.id, undefined), GroupNotFoundError);
    });

    test("deleting a user removes its memberships in the deletion's transaction, one event per group", async () => {
      const [gone, stays] = await newUsers(2);
      const g1 = await newGroup({ member_ids: [gone, stays] });
      const g2 = await newGroup({ member_ids: [gone] });
      const g3 = await newGroup({ member_ids: [stays] });
      assert.deepEqual(
        (await services.groups.groupsOf(gone!, { limit: 10 })).items.map((g) => g.id),
        [g1.id, g2.id],
      );
      const seq = await lastSeq();
      await services.users.delete(gone!, undefined, { actor: 'key:test', requestId: 'req-1' });
      const page = await services.events.feed({ after: String(seq), limit: 100 });
      assert.deepEqual(
        page.events.map((e) => e.type),
        ['group.members_removed', 'group.members_removed', 'user.deleted'],
      );
      const removals = page.events.slice(0, 2);
      assert.deepEqual(removals.map((e) => e.subjectId).sort(), [g1.id, g2.id].sort());
      for (const e of removals) {
        assert.deepEqual(e.data.user_ids, [gone]);
        assert.equal(e.data.reason, 'user_deleted');
        assert.equal(e.actor, 'key:test');
        assert.equal(e.requestId, 'req-1');
      }
      const after1 = await services.groups.get(g1.id);
      assert.equal(after1.memberCount, 1);
      assert.equal(after1.version, g1.version + 1);
      assert.equal((await services.groups.get(g2.id)).memberCount, 0);
      assert.deepEqual(await services.groups.get(g3.id), g3);
      await assert.rejects(services.groups.groupsOf(gone!, { limit: 10 }), UserNotFoundError);
      assert.deepEqual(
        (await services.groups.members(g1.id, { limit: 10 })).items.map((m) => m.userId),
        [stays],
      );
    });

    test('a user deleted while batches add it to groups: every group ends consistent', async () => {
      const ids = await newUsers(6);
      const victim = ids[0]!;
      const groups = await Promise.all(Array.from({ length: 4 }, () => newGroup()));
      const results = await Promise.allSettled([
        ...groups.map((g) => services.groups.addMembers(g.id, ids, undefined)),
        services.users.delete(victim, undefined),
      ]);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MembersNotFoundError, String(r.reason));
      assert.equal(results.at(-1)!.status, 'fulfilled', 'the deletion always succeeds');
      for (const g of groups) {
        const now = await services.groups.get(g.id);
        const members = await services.groups.members(g.id, { limit: 100 });
        assert.equal(now.memberCount, members.items.length);
        assert.ok(!members.items.some((m) => m.userId === victim));
      }
    });

    test("an Idempotency-Key replays the first creation, refuses another body, and is apart from users' keys", async () => {
      const key = `key-${unique()}`;
      const body = { display_name: `Idem ${unique()}`, external_id: `i-${unique()}` };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => services.groups.create(body, { idempotencyKey: key, idempotencyScope: 'key:a' })),
      );
      assert.equal(new Set(results.map((r) => r.group.id)).size, 1);
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      const again = await services.groups.create(
        { external_id: body.external_id, display_name: body.display_name },
        { idempotencyKey: key, idempotencyScope: 'key:a' },
      );
      assert.deepEqual(again, { group: results[0]!.group, replayed: true });
      await assert.rejects(
        services.groups.create({ display_name: `Other ${unique()}` }, { idempotencyKey: key, idempotencyScope: 'key:a' }),
        IdempotencyKeyReusedError,
      );
      const otherCaller = await services.groups.create(
        { display_name: `Idem ${unique()}` },
        { idempotencyKey: key, idempotencyScope: 'key:b' },
      );
      assert.equal(otherCaller.replayed, false);
      const user = await services.users.create({ email: `idem-${unique()}@example.com`, name: 'Idem' }, key, { idempotencyScope: 'key:a' });
      assert.equal(user.replayed, false, 'a key used for a group is not a user creation');
    });

    test('modify: fields, additions and removals in one transaction, one version, the events of each', async () => {
      const [a, b, c] = await newUsers(3);
      const group = await newGroup({ member_ids: [a, b] });
      const seq = await lastSeq();
      const {
        group: after,
        added,
        removed,
      } = await services.groups.modify(group.id, { patch: { attributes: { x: 1 } }, add: [c, a], remove: [b] }, [group.version]);
      assert.deepEqual([added, removed], [[c], [b]]);
      assert.equal(after.version, group.version + 1);
      assert.equal(after.memberCount, 2);
      assert.deepEqual(
        (await eventsOf(group.id, seq)).map((e) => e.type),
        ['group.updated', 'group.members_added', 'group.members_removed'],
      );
      await assert.rejects(services.groups.modify(group.id, { add: [uuidv7()], remove: [a] }, undefined), MembersNotFoundError);
      assert.equal((await services.groups.get(group.id)).memberCount, 2, 'nothing of a failed change applied');
    });

    test('modify with a whole member list: the difference is applied, attributes kept; a list beside a delta is refused', async () => {
      const [a, b, c] = await newUsers(3);
      const group = await newGroup({ member_ids: [a, b], attributes: { team: 'core' } });
      const seq = await lastSeq();
      const {
        group: after,
        added,
        removed,
      } = await services.groups.modify(group.id, { patch: { external_id: null }, members: [b, c] }, undefined);
      assert.deepEqual([added, removed], [[c], [a]]);
      assert.equal(after.version, group.version + 1);
      assert.equal(after.memberCount, 2);
      assert.deepEqual(after.attributes, { team: 'core' });
      assert.deepEqual(await services.groups.memberIds(group.id, undefined, 10), [b, c].sort());
      assert.deepEqual(
        (await eventsOf(group.id, seq)).map((e) => [e.type, e.data.user_ids]),
        [
          ['group.members_added', [c]],
          ['group.members_removed', [a]],
        ],
      );
      const same = await services.groups.modify(group.id, { members: [c, b] }, undefined);
      assert.equal(same.group.version, after.version, 'the same list: no change, no version');
      await assert.rejects(services.groups.modify(group.id, { members: [a], add: [c] }, undefined), ValidationError);
      await assert.rejects(services.groups.modify(group.id, { members: [uuidv7()] }, undefined), MembersNotFoundError);
      assert.equal((await services.groups.get(group.id)).memberCount, 2, 'nothing of a failed change applied');
    });
  });
}
