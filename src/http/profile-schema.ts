import Type from 'typebox';
import { ADDRESS_KEYS, PROFILE_LIST_MAX_ITEMS, PROFILE_TEXT_KEYS, PROFILE_TEXT_MAX_CHARS } from '../users/profile.js';
import type { PROFILE_LIST_KEYS } from '../users/profile.js';

/**
 * The TypeBox form of users/profile.ts, for the OpenAPI document and the create body's schema.
 * Its key lists are profile.ts's own, so the two cannot drift apart; the rules the schema cannot
 * say (one primary entry, 16 KiB in all, storable text) are parseProfile()'s, run on every path.
 */
const Text = Type.String({ maxLength: PROFILE_TEXT_MAX_CHARS });

const TEXT_DESCRIPTIONS: Partial<Record<(typeof PROFILE_TEXT_KEYS)[number], string>> = {
  manager_id: "the manager's user id or the identity provider's manager value (not checked to exist)",
  employee_number: 'the organisation’s number for the person (SCIM enterprise employeeNumber)',
  user_type: 'the relationship to the organisation, such as Employee or Contractor',
  preferred_language: 'an RFC 9110 language tag, such as en-GB',
  locale: 'such as en-US',
  timezone: 'an IANA time zone, such as Europe/London',
  formatted_name: 'the whole name as the identity provider formats it (SCIM name.formatted); `name` stays the display name',
};

const Contact = (what: string) =>
  Type.Object(
    {
      value: Type.String({ maxLength: PROFILE_TEXT_MAX_CHARS, description: what }),
      type: Type.Optional(Text),
      primary: Type.Optional(Type.Boolean()),
      display: Type.Optional(Text),
    },
    { additionalProperties: false },
  );

const Address = Type.Object(
  Object.fromEntries(ADDRESS_KEYS.map((key) => [key, Type.Optional(key === 'primary' ? Type.Boolean() : Text)])),
  { additionalProperties: false },
);

const LISTS = {
  emails: Type.Array(Contact('an email address (not checked: a provider’s other addresses)'), { maxItems: PROFILE_LIST_MAX_ITEMS }),
  phone_numbers: Type.Array(Contact('a phone number as the provider sends it'), { maxItems: PROFILE_LIST_MAX_ITEMS }),
  addresses: Type.Array(Address, { maxItems: PROFILE_LIST_MAX_ITEMS }),
} satisfies Record<(typeof PROFILE_LIST_KEYS)[number], unknown>;

export const PROFILE_EXAMPLE = {
  title: 'Analyst',
  department: 'Research',
  employee_number: '1815',
  manager_id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e00',
  emails: [{ value: 'ada@home.example', type: 'home' }],
  phone_numbers: [{ value: '+44 20 7946 0000', type: 'work', primary: true }],
};

export const ProfileSchema = Type.Object(
  {
    ...Object.fromEntries(
      PROFILE_TEXT_KEYS.map((key) => [
        key,
        Type.Optional(Type.String({ maxLength: PROFILE_TEXT_MAX_CHARS, description: TEXT_DESCRIPTIONS[key] })),
      ]),
    ),
    ...Object.fromEntries(Object.entries(LISTS).map(([key, schema]) => [key, Type.Optional(schema)])),
  },
  {
    additionalProperties: false,
    description:
      'Standard directory profile data (the SCIM core and enterprise User attributes), every key optional; at most 16 KiB as JSON, at most one primary entry per list',
    examples: [PROFILE_EXAMPLE],
  },
);
