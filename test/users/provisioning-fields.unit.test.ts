import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../src/kit/errors.js';
import {
  PROVISIONING_DEFAULTS,
  parseExternalId,
  parseNewUser,
  parseOptionalName,
  toUserDocument,
  type Attributes,
  type Email,
  type User,
  type UserId,
  type UserName,
} from '../../src/users/model.js';
import { applyUserPatch } from '../../src/users/patch.js';
import { fromUserSnapshot } from '../../src/users/sql-row.js';
import { parseProfile, PROFILE_LIST_KEYS, PROFILE_TEXT_KEYS } from '../../src/users/profile.js';
import { ProfileSchema } from '../../src/http/profile-schema.js';
import { validProfile } from '../helpers/profiles.js';

function pointersOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error.errors.map((e) => e.pointer);
    throw error;
  }
  return [];
}

const base = { email: 'ada@example.com', name: 'Ada' };

describe('parseNewUser: provisioning fields', () => {
  test('absent fields take their defaults', () => {
    const user = parseNewUser(base);
    assert.deepEqual(
      { ...user, email: undefined, name: undefined, attributes: undefined },
      {
        ...PROVISIONING_DEFAULTS,
        email: undefined,
        name: undefined,
        attributes: undefined,
      },
    );
  });

  test('names are trimmed and NFC-normalised like name; the external id is kept exactly', () => {
    const user = parseNewUser({ ...base, given_name: '  Zoe\u0301 ', family_name: 'Lee', external_id: ' 00uAbC ', active: false });
    assert.equal(user.givenName, 'Zoé');
    assert.equal(user.familyName, 'Lee');
    assert.equal(user.externalId, ' 00uAbC ');
    assert.equal(user.active, false);
  });

  test('every broken field is reported with its pointer, profile problems with their path', () => {
    assert.deepEqual(
      pointersOf(() =>
        parseNewUser({
          ...base,
          active: 'false',
          external_id: '',
          given_name: '',
          family_name: 'x'.repeat(201),
          profile: { title: 'ok', favourite_colour: 'blue' },
        }),
      ),
      ['/active', '/external_id', '/given_name', '/family_name', '/profile/favourite_colour'],
    );
  });

  test('external ids: 1–255 characters, no control characters, null for none', () => {
    assert.deepEqual(parseExternalId(null), { ok: true, value: null });
    assert.equal(parseExternalId('x'.repeat(255)).ok, true);
    assert.equal(parseExternalId('😀'.repeat(255)).ok, true, 'characters are code points');
    assert.equal(parseExternalId('x'.repeat(256)).ok, false);
    assert.equal(parseExternalId('a\tb').ok, false);
    assert.equal(parseExternalId('\ud800').ok, false);
    assert.equal(parseExternalId(42).ok, false);
  });
});

describe('parseProfile', () => {
  test('accepts every documented key, typed', () => {
    const profile = {
      ...Object.fromEntries(PROFILE_TEXT_KEYS.map((k) => [k, `v-${k}`])),
      emails: [{ value: 'a@home.example', type: 'home', primary: true, display: 'Home' }],
      phone_numbers: [{ value: '+1 555 0100' }],
      addresses: [{ formatted: '1 Main St\nTown', street_address: '1 Main St', locality: 'Town', country: 'GB', primary: false }],
    };
    assert.deepEqual(parseProfile(profile), { ok: true, value: profile });
  });

  const refusals: [string, unknown, string][] = [
    ['not an object', [], ''],
    ['an unknown key', { costCenter: 'x' }, '/costCenter'],
    ['a number for text', { title: 3 }, '/title'],
    ['null for text', { title: null }, '/title'],
    ['text over 1,024 characters', { department: 'x'.repeat(1025) }, '/department'],
    ['a NUL', { title: 'a\u0000b' }, '/title'],
    ['a list that is not an array', { emails: {} }, '/emails'],
    ['more than 20 entries', { phone_numbers: Array.from({ length: 21 }, (_, i) => ({ value: String(i) })) }, '/phone_numbers'],
    ['an entry without value', { emails: [{ value: 'a' }, { type: 'work' }] }, '/emails/1/value'],
    ['an unknown entry key', { addresses: [{ street: 'x' }] }, '/addresses/0/street'],
    ['primary not a boolean', { emails: [{ value: 'a', primary: 'true' }] }, '/emails/0/primary'],
    [
      'two primaries',
      {
        emails: [
          { value: 'a', primary: true },
          { value: 'b', primary: true },
        ],
      },
      '/emails',
    ],
    ['a key with a slash', { 'a/b': 1 }, '/a~1b'],
  ];
  for (const [what, input, at] of refusals) {
    test(`refuses ${what}, pointing at ${at || 'the profile'}`, () => {
      const parsed = parseProfile(input);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.equal(parsed.at ?? '', at);
    });
  }

  test('refuses more than 16 KiB as JSON', () => {
    const big = Object.fromEntries(PROFILE_TEXT_KEYS.map((k) => [k, 'x'.repeat(1024)]));
    assert.equal(parseProfile(big).ok, false);
  });

  test('property: never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.anything(), validProfile), (input) => {
        parseProfile(input);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: an accepted profile round-trips through JSON unchanged and is accepted again', () => {
    fc.assert(
      fc.property(validProfile, (profile) => {
        const parsed = parseProfile(profile);
        assert.ok(parsed.ok, JSON.stringify(parsed));
        const back = JSON.parse(JSON.stringify(parsed.value)) as unknown;
        assert.deepEqual(back, profile);
        assert.deepEqual(parseProfile(back), { ok: true, value: back });
      }),
      { numRuns: 1000 },
    );
  });

  test('the TypeBox schema names exactly the parser’s keys', () => {
    assert.deepEqual(Object.keys(ProfileSchema.properties).sort(), [...PROFILE_TEXT_KEYS, ...PROFILE_LIST_KEYS].sort());
    assert.equal((ProfileSchema as { additionalProperties?: unknown }).additionalProperties, false);
  });
});

describe('the other provisioning parsers, as properties', () => {
  test('parseExternalId and parseOptionalName never throw; what they accept parses again to itself', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything()), (input) => {
        for (const parse of [parseExternalId, parseOptionalName]) {
          const parsed = parse(input);
          if (parsed.ok) assert.deepEqual(parse(parsed.value), parsed);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('applyUserPatch: provisioning fields', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  const current: User = {
    id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' as UserId,
    email: 'ada@example.com' as Email,
    name: 'Ada' as UserName,
    ...PROVISIONING_DEFAULTS,
    externalId: parseExternalId('X1').ok ? ('X1' as User['externalId']) : null,
    profile: { title: 'Analyst', department: 'R&D' } as User['profile'],
    attributes: { a: 1 } as unknown as Attributes,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };

  test('deactivation, names, external id removal and a profile merge change exactly those fields', () => {
    const changes = applyUserPatch(current, {
      active: false,
      given_name: 'Ada',
      external_id: null,
      profile: { department: null, manager_id: 'm-1' },
    });
    assert.deepEqual(changes, {
      active: false,
      externalId: null,
      givenName: 'Ada',
      profile: { title: 'Analyst', manager_id: 'm-1' },
    });
  });

  test('the same values change nothing', () => {
    assert.deepEqual(applyUserPatch(current, { active: true, external_id: 'X1', profile: { title: 'Analyst' } }), {});
  });

  test('active cannot be removed; a merged profile is checked as a whole', () => {
    assert.deepEqual(
      pointersOf(() =>
        applyUserPatch(current, {
          active: null,
          profile: {
            emails: [
              { value: 'a', primary: true },
              { value: 'b', primary: true },
            ],
          },
        }),
      ),
      ['/active', '/profile/emails'],
    );
  });

  test('an idempotency record written before migration 0011 replays with the defaults', () => {
    const old = JSON.stringify({
      id: current.id,
      email: current.email,
      name: current.name,
      attributes: {},
      version: 1,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    });
    const user = fromUserSnapshot(old);
    assert.deepEqual([user.active, user.externalId, user.givenName, user.familyName, user.profile], [true, null, null, null, {}]);
  });

  test('the document carries every field, snake_case', () => {
    const doc = toUserDocument(current);
    assert.deepEqual(
      { active: doc.active, external_id: doc.external_id, given_name: doc.given_name, family_name: doc.family_name, profile: doc.profile },
      { active: true, external_id: 'X1', given_name: null, family_name: null, profile: { title: 'Analyst', department: 'R&D' } },
    );
  });
});
