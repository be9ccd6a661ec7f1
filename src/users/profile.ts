import { pointerSegment } from '../kit/errors.js';
import type { Parsed } from './model.js';

declare const brand: unique symbol;

/**
 * Standard directory profile data: what identity providers send beside the name (SCIM core and
 * enterprise User attributes), as snake_case keys, every one optional. It is its own column,
 * apart from `attributes` (the caller's free-form data), so a provider's sync never overwrites
 * custom data and a client's custom keys never collide with a provider's.
 */
export type Profile = Readonly<ProfileFields> & { readonly [brand]: 'Profile' };

export type ProfileFields = {
  title?: string;
  department?: string;
  organization?: string;
  division?: string;
  cost_center?: string;
  employee_number?: string;
  /** A user id or the provider's own manager value: not checked to exist (a provider may send the manager later). */
  manager_id?: string;
  nickname?: string;
  user_type?: string;
  preferred_language?: string;
  locale?: string;
  timezone?: string;
  profile_url?: string;
  /** The whole name as the provider formats it (SCIM name.formatted), kept apart from `name`, the display name. */
  formatted_name?: string;
  middle_name?: string;
  honorific_prefix?: string;
  honorific_suffix?: string;
  emails?: ContactValue[];
  phone_numbers?: ContactValue[];
  addresses?: Address[];
};

/** An entry of `emails` or `phone_numbers` (SCIM multi-valued attribute). */
export type ContactValue = {
  value: string;
  type?: string;
  primary?: boolean;
  display?: string;
};

export type Address = {
  formatted?: string;
  street_address?: string;
  locality?: string;
  region?: string;
  postal_code?: string;
  country?: string;
  type?: string;
  primary?: boolean;
};

export const PROFILE_TEXT_KEYS = [
  'title',
  'department',
  'organization',
  'division',
  'cost_center',
  'employee_number',
  'manager_id',
  'nickname',
  'user_type',
  'preferred_language',
  'locale',
  'timezone',
  'profile_url',
  'formatted_name',
  'middle_name',
  'honorific_prefix',
  'honorific_suffix',
] as const;
export const PROFILE_LIST_KEYS = ['emails', 'phone_numbers', 'addresses'] as const;
export const CONTACT_KEYS = ['value', 'type', 'primary', 'display'] as const;
export const ADDRESS_KEYS = ['formatted', 'street_address', 'locality', 'region', 'postal_code', 'country', 'type', 'primary'] as const;

export const PROFILE_MAX_BYTES = 16 * 1024;
export const PROFILE_TEXT_MAX_CHARS = 1024;
export const PROFILE_LIST_MAX_ITEMS = 20;

const TEXT_KEYS = new Set<string>(PROFILE_TEXT_KEYS);
const ENTRY_KEYS: Record<(typeof PROFILE_LIST_KEYS)[number], ReadonlySet<string>> = {
  emails: new Set(CONTACT_KEYS),
  phone_numbers: new Set(CONTACT_KEYS),
  addresses: new Set(ADDRESS_KEYS),
};

/** A refusal at `at` (a pointer inside the profile). */
class Refusal {
  constructor(
    readonly at: string,
    readonly message: string,
  ) {}
}

/**
 * Checks a profile: only the known keys, each of its type; text any storable string (empty is
 * kept: a provider's "" reads back as ""), at most 1,024 characters; lists at most 20 entries,
 * each an object of its known keys, `value` required in emails and phone numbers, `primary`
 * true on one entry at most (RFC 7643 §2.4); the whole at most 16 KiB as JSON. The first problem
 * is reported with its pointer. Never throws.
 */
export function parseProfile(input: unknown): Parsed<Profile> {
  const refusal = profileRefusal(input);
  if (refusal !== undefined) return { ok: false, message: refusal.message, ...(refusal.at === '' ? {} : { at: refusal.at }) };
  if (Buffer.byteLength(JSON.stringify(input)) > PROFILE_MAX_BYTES) {
    return { ok: false, message: `must be at most ${PROFILE_MAX_BYTES} bytes as JSON` };
  }
  return { ok: true, value: input as Profile };
}

function profileRefusal(input: unknown): Refusal | undefined {
  if (!isObject(input)) return new Refusal('', 'must be a JSON object');
  for (const [key, value] of Object.entries(input)) {
    const at = `/${pointerSegment(key)}`;
    if (TEXT_KEYS.has(key)) {
      const problem = textProblem(value);
      if (problem !== undefined) return new Refusal(at, problem);
    } else if (key === 'emails' || key === 'phone_numbers' || key === 'addresses') {
      const refusal = listRefusal(key, value, at);
      if (refusal !== undefined) return refusal;
    } else {
      return new Refusal(at, `is not a profile field (${[...PROFILE_TEXT_KEYS, ...PROFILE_LIST_KEYS].join(', ')})`);
    }
  }
  return undefined;
}

function listRefusal(list: (typeof PROFILE_LIST_KEYS)[number], value: unknown, at: string): Refusal | undefined {
  if (!Array.isArray(value)) return new Refusal(at, 'must be an array');
  if (value.length > PROFILE_LIST_MAX_ITEMS) return new Refusal(at, `must have at most ${PROFILE_LIST_MAX_ITEMS} entries`);
  const allowed = ENTRY_KEYS[list];
  let primaries = 0;
  for (const [index, entry] of value.entries()) {
    const entryAt = `${at}/${index}`;
    if (!isObject(entry)) return new Refusal(entryAt, 'must be a JSON object');
    for (const [key, child] of Object.entries(entry)) {
      const childAt = `${entryAt}/${pointerSegment(key)}`;
      if (!allowed.has(key)) return new Refusal(childAt, `is not a field of this entry (${[...allowed].join(', ')})`);
      if (key === 'primary') {
        if (typeof child !== 'boolean') return new Refusal(childAt, 'must be true or false');
        if (child) primaries++;
      } else {
        const problem = textProblem(child);
        if (problem !== undefined) return new Refusal(childAt, problem);
      }
    }
    if (list !== 'addresses' && !Object.hasOwn(entry, 'value')) return new Refusal(`${entryAt}/value`, 'is required');
  }
  if (primaries > 1) return new Refusal(at, 'must have at most one entry with primary true');
  return undefined;
}

function textProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (!value.isWellFormed() || value.includes('\u0000')) return 'must be valid Unicode text without NUL characters';
  if (value.length > PROFILE_TEXT_MAX_CHARS) return `must be at most ${PROFILE_TEXT_MAX_CHARS} characters`;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
