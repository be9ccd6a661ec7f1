// The groups capability's rules without a database: parsers, the merge patch, event chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { FieldErrors, ValidationError } from '../../src/kit/errors.js';
import { MEMBER_IDS_PER_EVENT, changedGroupFields, membershipEvents } from '../../src/groups/events.js';
import { displayNameKey, parseExternalId, parseMemberIds, parseNewGroup, type Group, type GroupId } from '../../src/groups/model.js';
import { applyGroupPatch } from '../../src/groups/service.js';
import { foldKey } from '../../src/users/model.js';

const group = (over: Partial<Group> = {}): Group =>
  ({
    id: uuidv7() as GroupId,
    displayName: 'Research',
    externalId: null,
    attributes: {},
    memberCount: 0,
    version: 1,
    createdAt: new Date(0),
    updatedAt: new Date(0),
    ...over,
  }) as Group;

test('display names fold as emails do (the same key users/ re-exports)', () => {
  assert.equal(displayNameKey('STRASSE'), displayNameKey('straße'));
  assert.equal(displayNameKey('İzmir'), foldKey('izmir'));
});

test('external ids: any storable text of 1–255 characters without control characters, kept exactly', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.anything()), (input) => {
      const parsed = parseExternalId(input);
      const expected =
        typeof input === 'string' &&
        input.length >= 1 &&
        input.length <= 255 &&
        input.isWellFormed() &&
        !input.includes('\u0000') &&
        !/[\p{Cc}\u2028\u2029]/u.test(input);
      assert.equal(parsed.ok, expected, JSON.stringify(input));
      if (parsed.ok) assert.equal(parsed.value, input, 'never trimmed nor folded');
    }),
  );
});

test('member id lists: repeats count once in first-seen order; every bad item is named; the bound is checked first', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom(uuidv7(), uuidv7(), uuidv7()), fc.string({ maxLength: 40 }), fc.integer()), { maxLength: 30 }),
      (items) => {
        const errors = new FieldErrors();
        const ids = parseMemberIds(errors, 'user_ids', items, undefined);
        const good = items.filter((i): i is string => typeof i === 'string' && /^[0-9a-f-]{36}$/.test(i));
        assert.deepEqual(ids, [...new Set(good)]);
        const badIndexes = items.flatMap((item, i) => (good.includes(item as string) ? [] : [`/user_ids/${i}`]));
        assert.deepEqual(
          errors.list().map((e) => e.pointer),
          badIndexes,
        );
      },
    ),
  );
  const errors = new FieldErrors();
  assert.deepEqual(parseMemberIds(errors, 'user_ids', [uuidv7(), uuidv7()], 1), []);
  assert.deepEqual(errors.list(), [{ pointer: '/user_ids', message: 'must hold at most 1 user ids' }]);
});

test('a new group reports every broken rule together', () => {
  assert.throws(
    () => parseNewGroup({ display_name: '', external_id: 7, attributes: [], member_ids: 'x' }, 10),
    (e: unknown) =>
      e instanceof ValidationError && e.errors.map((x) => x.pointer).join() === '/display_name,/external_id,/attributes,/member_ids',
  );
  const parsed = parseNewGroup({ display_name: ' Cafe\u0301 ', external_id: null }, 10);
  assert.equal(parsed.displayName, 'Café');
  assert.equal(parsed.externalId, null);
});

test('merge patch: any JSON either gives a group within the rules or a ValidationError; unchanged returns the same object', () => {
  const current = group({ externalId: 'x' as Group['externalId'], attributes: { a: 1 } as unknown as Group['attributes'] });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue(),
        fc.record(
          {
            display_name: fc.oneof(fc.string({ maxLength: 210 }), fc.constant(null)),
            external_id: fc.oneof(fc.string({ maxLength: 260 }), fc.constant(null)),
            attributes: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })), fc.constant(null)),
          },
          { requiredKeys: [] },
        ),
      ),
      (patch) => {
        let next: Group;
        try {
          next = applyGroupPatch(current, patch);
        } catch (error) {
          assert.ok(error instanceof ValidationError, String(error));
          return;
        }
        if (changedGroupFields(current, next).length === 0) assert.equal(next, current);
        assert.ok(next.displayName.length > 0);
        assert.ok(next.externalId === null || (next.externalId.length >= 1 && next.externalId.length <= 255));
      },
    ),
  );
  assert.equal(applyGroupPatch(current, { external_id: null }).externalId, null);
  assert.deepEqual(applyGroupPatch(current, { attributes: { a: null, b: 2 } }).attributes, { b: 2 });
});

test('a membership change is ceil(n / 1,000) events, in order, each naming the version after the change', () => {
  const ids = Array.from({ length: 2 * MEMBER_IDS_PER_EVENT + 1 }, () => uuidv7());
  const events = membershipEvents(uuidv7, 'group.members_added', { id: 'g', version: 9 }, ids, { actor: 'key:a' }, new Date(0));
  assert.deepEqual(
    events.map((e) => (e.data.user_ids as string[]).length),
    [1000, 1000, 1],
  );
  assert.deepEqual(
    events.flatMap((e) => e.data.user_ids as string[]),
    ids,
  );
  assert.ok(events.every((e) => e.data.version === 9 && e.actor === 'key:a' && e.subjectId === 'g'));
  assert.deepEqual(membershipEvents(uuidv7, 'group.members_removed', { id: 'g', version: 1 }, [], {}, new Date(0)), []);
});
