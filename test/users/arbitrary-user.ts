import fc from 'fast-check';
import type { Attributes, Email, ExternalId, Profile, User, UserId, UserName } from '../../src/users/model.js';

// Any text JSON can carry: lone surrogates and U+2028 included, which a writer of JSON must
// escape exactly as JSON.stringify does.
export const anyText = fc.string({ unit: 'binary', maxLength: 40 });
export const anyAttributes = fc.dictionary(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 6,
}) as fc.Arbitrary<Attributes>;
/** The years toISOString() writes with four digits, the shape stores keep. */
export const fourDigitYearDate = fc.date({
  min: new Date('0000-01-01T00:00:00.000Z'),
  max: new Date('9999-12-31T23:59:59.999Z'),
  noInvalidDate: true,
});

/** Any user the model can hold, its fields not checked by the API's rules (writers of JSON must not rely on them). */
export const anyUser: fc.Arbitrary<User> = fc.record({
  id: fc.uuid().map((id) => id as UserId),
  email: anyText.map((t) => t as Email),
  name: anyText.map((t) => t as UserName),
  active: fc.boolean(),
  externalId: fc.option(
    anyText.map((t) => t as ExternalId),
    { nil: null },
  ),
  givenName: fc.option(
    anyText.map((t) => t as UserName),
    { nil: null },
  ),
  familyName: fc.option(
    anyText.map((t) => t as UserName),
    { nil: null },
  ),
  attributes: anyAttributes,
  profile: anyAttributes.map((a) => a as unknown as Profile),
  version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  createdAt: fourDigitYearDate,
  updatedAt: fourDigitYearDate,
});
