import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { changedFields, sameJson } from '../../src/users/changes.js';
import { PROVISIONING_DEFAULTS, type Attributes, type Email, type ExternalId, type Profile, type UserName } from '../../src/users/model.js';

/** The same JSON value with every object's keys in another (reversed) order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    );
  }
  return value;
}

/** JSON with sorted keys: two values are the same JSON exactly when these are equal. */
function canonicalText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalText((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** JSON values as JSON.parse gives them (no undefined, finite numbers), with small key sets so values collide often. */
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, 1, 1.5, -2, '', 'a', 'b'),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const user = (email: string, name: string, attributes: unknown) => ({
  email: email as Email,
  name: name as UserName,
  attributes: attributes as Attributes,
  ...PROVISIONING_DEFAULTS,
});

describe('sameJson', () => {
  test('ignores key order at every depth, objects inside arrays included', () => {
    assert.ok(sameJson({ a: 1, b: { c: 2, d: [{ e: 1, f: 2 }] } }, { b: { d: [{ f: 2, e: 1 }], c: 2 }, a: 1 }));
    fc.assert(fc.property(json, (value) => sameJson(value, reordered(value))));
  });

  test('is equality of the canonical (key-sorted) JSON text', () => {
    fc.assert(fc.property(json, json, (a, b) => sameJson(a, b) === (canonicalText(a) === canonicalText(b))));
  });

  test('array order, types and missing keys all count', () => {
    assert.ok(!sameJson([1, 2], [2, 1]));
    assert.ok(!sameJson({ a: [] }, { a: {} }));
    assert.ok(!sameJson({ a: null }, {}));
    assert.ok(!sameJson({ a: 1 }, { b: 1 }));
    assert.ok(!sameJson({ a: '1' }, { a: 1 }));
    assert.ok(!sameJson({ a: 0 }, { a: false }));
    assert.ok(sameJson(JSON.parse('{"n":1.0}'), { n: 1 }));
  });
});

describe('changedFields', () => {
  test('names the fields that differ, in email, name, attributes order', () => {
    const before = user('Ann@example.com', 'Ann', { a: 1, b: 2 });
    assert.deepEqual(changedFields(before, user('Ann@example.com', 'Ann', { b: 2, a: 1 })), []);
    assert.deepEqual(changedFields(before, user('ann@example.com', 'Ann', { a: 1, b: 2 })), ['email'], 'a case change is a change');
    assert.deepEqual(changedFields(before, user('Ann@example.com', 'Anne', { a: 1, b: 2 })), ['name']);
    assert.deepEqual(changedFields(before, user('Ann@example.com', 'Ann', { a: 1 })), ['attributes']);
    assert.deepEqual(changedFields(before, user('x@example.com', 'X', {})), ['email', 'name', 'attributes']);
  });

  test('the provisioning fields: exact text, null equal only to null, profiles by JSON value', () => {
    const before = user('Ann@example.com', 'Ann', {});
    const with_ = (fields: object) => ({ ...before, ...fields });
    assert.deepEqual(changedFields(before, with_({ active: false })), ['active']);
    assert.deepEqual(changedFields(before, with_({ externalId: 'X1' as ExternalId })), ['external_id']);
    const taken = with_({ externalId: 'X1' as ExternalId });
    assert.deepEqual(changedFields(taken, with_({ externalId: 'x1' as ExternalId })), ['external_id'], 'external ids are case-sensitive');
    assert.deepEqual(changedFields(before, with_({ givenName: 'Ann' as UserName, familyName: 'Lee' as UserName })), [
      'given_name',
      'family_name',
    ]);
    const profiled = with_({ profile: { title: 'A', department: 'B' } as Profile });
    assert.deepEqual(changedFields(profiled, with_({ profile: { department: 'B', title: 'A' } as Profile })), []);
    assert.deepEqual(changedFields(profiled, before), ['profile']);
    assert.deepEqual(
      changedFields(before, {
        ...user('b@example.com', 'B', { x: 1 }),
        active: false,
        externalId: 'E' as ExternalId,
        givenName: 'G' as UserName,
        familyName: 'F' as UserName,
        profile: { title: 'T' } as Profile,
      }),
      ['email', 'name', 'attributes', 'active', 'external_id', 'given_name', 'family_name', 'profile'],
      'in CHANGEABLE_FIELDS order',
    );
  });
});
