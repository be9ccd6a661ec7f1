import { invalidValue } from '../errors.js';
import { ENTERPRISE_USER_SCHEMA_ID } from '../schema/definitions.js';
import { isObject, type ScimDocument } from '../schema/normalise.js';
import type { DirectoryUser, DirectoryUserDraft, ProfileAddress, ProfileContact, UserProfile } from '../ports.js';

/**
 * SCIM User ⇄ Roster user. userName is Roster's email (so it must be one); displayName its
 * name; name.givenName/familyName its given and family names; externalId and active their
 * columns; every other core and enterprise attribute lives in `profile` under a snake_case key.
 * name.formatted is stored as it came (profile.formatted_name: Entra sends it on every cycle and
 * compares what it reads back); it also supplies the display name when displayName is absent.
 */

/** Simple SCIM attributes and their profile keys. */
const CORE_TEXT: readonly (readonly [string, keyof UserProfile])[] = [
  ['nickName', 'nickname'],
  ['profileUrl', 'profile_url'],
  ['title', 'title'],
  ['userType', 'user_type'],
  ['preferredLanguage', 'preferred_language'],
  ['locale', 'locale'],
  ['timezone', 'timezone'],
];
const NAME_TEXT: readonly (readonly [string, keyof UserProfile])[] = [
  ['formatted', 'formatted_name'],
  ['middleName', 'middle_name'],
  ['honorificPrefix', 'honorific_prefix'],
  ['honorificSuffix', 'honorific_suffix'],
];
const ENTERPRISE_TEXT: readonly (readonly [string, keyof UserProfile])[] = [
  ['employeeNumber', 'employee_number'],
  ['costCenter', 'cost_center'],
  ['organization', 'organization'],
  ['division', 'division'],
  ['department', 'department'],
];
const ADDRESS_KEYS: readonly (readonly [string, keyof ProfileAddress])[] = [
  ['formatted', 'formatted'],
  ['streetAddress', 'street_address'],
  ['locality', 'locality'],
  ['region', 'region'],
  ['postalCode', 'postal_code'],
  ['country', 'country'],
  ['type', 'type'],
  ['primary', 'primary'],
];

/** Roster's rule for userName: one @ with something either side, no spaces; UsersService checks the rest. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/u;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** A canonical SCIM User document (normaliseResource's output) as the user Roster stores. */
export function userDraftFromScim(doc: ScimDocument): DirectoryUserDraft {
  const userName = text(doc.userName)?.trim();
  if (userName === undefined || userName === '') throw invalidValue('"userName" is required.');
  if (!EMAIL_SHAPE.test(userName)) throw invalidValue('"userName" must be an email address: Roster identifies users by email.');
  const name = isObject(doc.name) ? doc.name : {};
  const given = text(name.givenName) ?? null;
  const family = text(name.familyName) ?? null;
  const display =
    nonBlank(text(doc.displayName)) ??
    nonBlank(text(name.formatted)) ??
    nonBlank([given, family].filter((p) => p !== null).join(' ')) ??
    userName;
  const profile: Record<string, unknown> = {};
  for (const [scim, key] of CORE_TEXT) copyText(doc[scim], profile, key);
  for (const [scim, key] of NAME_TEXT) copyText(name[scim], profile, key);
  const enterprise = isObject(doc[ENTERPRISE_USER_SCHEMA_ID]) ? (doc[ENTERPRISE_USER_SCHEMA_ID] as ScimDocument) : {};
  for (const [scim, key] of ENTERPRISE_TEXT) copyText(enterprise[scim], profile, key);
  if (isObject(enterprise.manager)) copyText(enterprise.manager.value, profile, 'manager_id');
  const emails = contacts(doc.emails);
  if (emails.length > 0) profile.emails = emails;
  const phones = contacts(doc.phoneNumbers);
  if (phones.length > 0) profile.phone_numbers = phones;
  const addresses = Array.isArray(doc.addresses) ? doc.addresses.filter(isObject).map((a) => renamed(a, ADDRESS_KEYS)) : [];
  if (addresses.length > 0) profile.addresses = addresses;
  return {
    email: userName,
    name: display,
    given_name: given,
    family_name: family,
    active: typeof doc.active === 'boolean' ? doc.active : true,
    external_id: text(doc.externalId) ?? null,
    profile: profile,
  };
}

/** A Roster user as a canonical SCIM User document, without schemas and meta (scim/resources.ts adds them). */
export function userToScim(user: DirectoryUser): ScimDocument {
  const p = user.profile;
  const doc: ScimDocument = { id: user.id };
  if (user.external_id !== null) doc.externalId = user.external_id;
  doc.userName = user.email;
  const name: ScimDocument = {};
  if (user.family_name !== null) name.familyName = user.family_name;
  if (user.given_name !== null) name.givenName = user.given_name;
  for (const [scim, key] of NAME_TEXT) if (p[key] !== undefined) name[scim] = p[key];
  if (Object.keys(name).length > 0) doc.name = name;
  doc.displayName = user.name;
  for (const [scim, key] of CORE_TEXT) if (p[key] !== undefined) doc[scim] = p[key];
  doc.active = user.active;
  if (p.emails !== undefined && p.emails.length > 0) doc.emails = p.emails.map((c) => ({ ...c }));
  if (p.phone_numbers !== undefined && p.phone_numbers.length > 0) doc.phoneNumbers = p.phone_numbers.map((c) => ({ ...c }));
  if (p.addresses !== undefined && p.addresses.length > 0) doc.addresses = p.addresses.map((a) => reverse(a, ADDRESS_KEYS));
  const enterprise: ScimDocument = {};
  for (const [scim, key] of ENTERPRISE_TEXT) if (p[key] !== undefined) enterprise[scim] = p[key];
  if (p.manager_id !== undefined) enterprise.manager = { value: p.manager_id };
  if (Object.keys(enterprise).length > 0) doc[ENTERPRISE_USER_SCHEMA_ID] = enterprise;
  return doc;
}

function nonBlank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function copyText(value: unknown, profile: Record<string, unknown>, key: string): void {
  if (typeof value === 'string') profile[key] = value;
}

function contacts(value: unknown): ProfileContact[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isObject).map((c) => {
    const out: Record<string, unknown> = {};
    for (const key of ['value', 'type', 'primary', 'display'] as const) if (c[key] !== undefined) out[key] = c[key];
    return out;
  });
}

function renamed(source: ScimDocument, keys: readonly (readonly [string, string])[]): ProfileAddress {
  const out: Record<string, unknown> = {};
  for (const [scim, key] of keys) if (source[scim] !== undefined) out[key] = source[scim];
  return out;
}

function reverse(source: ProfileAddress, keys: readonly (readonly [string, keyof ProfileAddress])[]): ScimDocument {
  const out: ScimDocument = {};
  for (const [scim, key] of keys) if (source[key] !== undefined) out[scim] = source[key];
  return out;
}
