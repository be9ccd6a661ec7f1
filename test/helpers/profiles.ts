import fc from 'fast-check';
import { ADDRESS_KEYS, PROFILE_TEXT_KEYS, type Profile } from '../../src/users/profile.js';

/** Profile text: any storable string, formula-like and multi-line ones included. */
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '=SUM(A1)', '+44 20 7946 0000', 'line\nbreak', 'Zoë 😀'),
);

const contact = fc.record({ value: text, type: text, primary: fc.boolean(), display: text }, { requiredKeys: ['value'] });
const address = fc.record(Object.fromEntries(ADDRESS_KEYS.map((key) => [key, key === 'primary' ? fc.boolean() : text])), {
  requiredKeys: [],
});

/** At most one entry with primary true (the rule parseProfile() checks). */
function onePrimary<T extends { primary?: boolean }>(entries: T[]): T[] {
  let seen = false;
  return entries.map((entry) => {
    if (entry.primary !== true) return entry;
    if (!seen) {
      seen = true;
      return entry;
    }
    return { ...entry, primary: false };
  });
}

/** Profiles parseProfile() accepts, as plain JSON objects (fast-check makes null-prototype ones). */
export const validProfile: fc.Arbitrary<Profile> = fc
  .record(
    {
      ...Object.fromEntries(PROFILE_TEXT_KEYS.map((key) => [key, text])),
      emails: fc.array(contact, { maxLength: 3 }).map(onePrimary),
      phone_numbers: fc.array(contact, { maxLength: 3 }).map(onePrimary),
      addresses: fc.array(address, { maxLength: 2 }).map(onePrimary),
    },
    { requiredKeys: [] },
  )
  .map((profile) => JSON.parse(JSON.stringify(profile)) as Profile);
