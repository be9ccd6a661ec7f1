import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ScimError } from '../../src/scim/errors.js';
import { userDraftFromScim, userToScim } from '../../src/scim/mapping/user.js';
import { ENTERPRISE_USER_SCHEMA_ID as ENT, USER_RESOURCE } from '../../src/scim/schema/definitions.js';
import { normaliseResource } from '../../src/scim/schema/normalise.js';
import type { DirectoryUser } from '../../src/scim/ports.js';

const read = (body: Record<string, unknown>) => userDraftFromScim(normaliseResource(USER_RESOURCE, body));
const asUser = (body: Record<string, unknown>): DirectoryUser => ({
  ...read(body),
  id: '0190c0de-0000-7000-8000-000000000001',
  version: 1,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
});

/** Every core and enterprise attribute Roster keeps, as a provider sends them. */
const FULL = {
  externalId: 'ext-1',
  userName: 'bjensen@example.com',
  name: {
    formatted: 'Ms. Barbara J Jensen, III',
    familyName: 'Jensen',
    givenName: 'Barbara',
    middleName: 'Jane',
    honorificPrefix: 'Ms.',
    honorificSuffix: 'III',
  },
  displayName: 'Babs Jensen',
  nickName: 'Babs',
  profileUrl: 'https://login.example.com/bjensen',
  title: 'Tour Guide',
  userType: 'Employee',
  preferredLanguage: 'en-US',
  locale: 'en-US',
  timezone: 'America/Los_Angeles',
  active: true,
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home', display: 'Babs' },
  ],
  phoneNumbers: [{ value: '555-555-5555', type: 'work' }],
  addresses: [
    {
      type: 'work',
      streetAddress: '100 Universal City Plaza',
      locality: 'Hollywood',
      region: 'CA',
      postalCode: '91608',
      country: 'US',
      formatted: '100 Universal City Plaza\nHollywood, CA 91608 USA',
      primary: true,
    },
  ],
  [ENT]: {
    employeeNumber: '701984',
    costCenter: '4130',
    organization: 'Universal Studios',
    division: 'Theme Park',
    department: 'Tour Operations',
    manager: { value: '0190c0de-0000-7000-8000-000000000002' },
  },
};

describe('SCIM User ⇄ Roster user', () => {
  test('every value a provider sends reads back the same (RFC 7643 §8.2 full user)', () => {
    assert.deepStrictEqual(userToScim(asUser(FULL)), { id: '0190c0de-0000-7000-8000-000000000001', ...FULL });
  });

  test('the columns: userName → email, displayName → name, given/family names, active, externalId', () => {
    const draft = read(FULL);
    assert.equal(draft.email, 'bjensen@example.com');
    assert.equal(draft.name, 'Babs Jensen');
    assert.equal(draft.given_name, 'Barbara');
    assert.equal(draft.family_name, 'Jensen');
    assert.equal(draft.external_id, 'ext-1');
    assert.equal(draft.profile.manager_id, '0190c0de-0000-7000-8000-000000000002');
    assert.equal(draft.profile.cost_center, '4130');
    assert.equal(draft.profile.formatted_name, 'Ms. Barbara J Jensen, III', 'name.formatted is kept, apart from the display name');
    assert.deepStrictEqual(draft.profile.addresses?.[0]?.street_address, '100 Universal City Plaza');
  });

  test('displayName falls back to name.formatted, then given and family names, then userName', () => {
    assert.equal(read({ userName: 'a@x.io', name: { formatted: 'Dr. A', givenName: 'A' } }).name, 'Dr. A');
    assert.equal(read({ userName: 'a@x.io', name: { givenName: 'Ann', familyName: 'Lee' } }).name, 'Ann Lee');
    assert.equal(read({ userName: 'a@x.io', displayName: '  ' }).name, 'a@x.io');
  });

  test('active defaults to true; password, read-only and undeclared attributes are dropped', () => {
    const draft = read({ userName: 'a@x.io', password: 'p', id: 'mine', meta: {}, roles: [{ value: 'r' }], groups: [{ value: 'g' }] });
    assert.equal(draft.active, true);
    assert.deepStrictEqual(draft.profile, {});
  });

  test('userName is required and must be an email address (Roster identifies users by email)', () => {
    const invalid = (error: unknown) => error instanceof ScimError && error.scimType === 'invalidValue';
    assert.throws(() => read({ displayName: 'x' }), invalid);
    assert.throws(() => read({ userName: 'bjensen' }), invalid);
    assert.throws(() => read({ userName: 42 }), invalid);
  });

  test('attribute names are case-insensitive and land on their canonical spelling', () => {
    const draft = read({ USERNAME: 'a@x.io', Name: { GIVENNAME: 'Ann' }, [ENT.toLowerCase()]: { Department: 'R&D' } });
    assert.equal(draft.email, 'a@x.io');
    assert.equal(draft.given_name, 'Ann');
    assert.equal(draft.profile.department, 'R&D');
  });
});
