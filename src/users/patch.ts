import { FieldErrors, pointerSegment, type FieldError } from '../kit/errors.js';
import { applyMergePatch } from '../kit/merge-patch.js';
import { CHANGEABLE_FIELDS, USER_KEY_OF, changedFields, type ChangeableValues } from './changes.js';
import {
  field,
  isPlainObject,
  parseActive,
  parseAttributes,
  parseEmail,
  parseExternalId,
  parseOptionalName,
  parseUserName,
  type Parsed,
  type User,
} from './model.js';
import { parseProfile } from './profile.js';

const PATCHABLE = new Set<string>(CHANGEABLE_FIELDS);

/**
 * Applies an RFC 7396 merge patch to a user and re-checks every rule on the result.
 * `attributes` and `profile` merge key by key (null removes a key; `"attributes": null` clears
 * them all); `email`, `name` and `active` can be replaced but not removed; `external_id`,
 * `given_name` and `family_name` are removed by null.
 * @returns the changed fields (changedFields()) under their User keys, or an empty object when the patch changes nothing.
 * @throws ValidationError listing every bad field.
 */
export function applyUserPatch(current: User, patch: unknown): Partial<ChangeableValues> {
  const errors = new FieldErrors();
  if (!isPlainObject(patch)) {
    errors.add('', 'must be a JSON object');
    errors.throwIfAny();
    return {};
  }
  const candidate: { -readonly [K in keyof ChangeableValues]: ChangeableValues[K] } = {
    email: current.email,
    name: current.name,
    attributes: current.attributes,
    active: current.active,
    externalId: current.externalId,
    givenName: current.givenName,
    familyName: current.familyName,
    profile: current.profile,
  };
  for (const key of Object.keys(patch)) {
    if (!PATCHABLE.has(key)) errors.add(`/${pointerSegment(key)}`, 'is not a field that can be changed');
  }
  const replace = <T>(name: string, parse: (input: unknown) => Parsed<T>, removable: boolean): T | undefined => {
    if (!(name in patch)) return undefined;
    const value = patch[name];
    if (value === null && !removable) {
      errors.add(`/${name}`, 'cannot be removed');
      return undefined;
    }
    return field(errors, name, parse(value));
  };
  const email = replace('email', parseEmail, false);
  if (email !== undefined) candidate.email = email;
  const name = replace('name', parseUserName, false);
  if (name !== undefined) candidate.name = name;
  const active = replace('active', parseActive, false);
  if (active !== undefined) candidate.active = active;
  const externalId = replace('external_id', parseExternalId, true);
  if (externalId !== undefined) candidate.externalId = externalId;
  const givenName = replace('given_name', parseOptionalName, true);
  if (givenName !== undefined) candidate.givenName = givenName;
  const familyName = replace('family_name', parseOptionalName, true);
  if (familyName !== undefined) candidate.familyName = familyName;
  if ('attributes' in patch) {
    const merged = patch.attributes === null ? {} : applyMergePatch(current.attributes, patch.attributes);
    const attributes = field(errors, 'attributes', parseAttributes(merged));
    if (attributes !== undefined) candidate.attributes = attributes;
  }
  if ('profile' in patch) {
    const merged = patch.profile === null ? {} : applyMergePatch(current.profile, patch.profile);
    const profile = field(errors, 'profile', parseProfile(merged));
    if (profile !== undefined) candidate.profile = profile;
  }
  errors.throwIfAny();
  return Object.fromEntries(changedFields(current, candidate).map((f) => [USER_KEY_OF[f], candidate[USER_KEY_OF[f]]]));
}

/** The rule violations of a patch's own fields, without a current user: for merging with schema errors. */
export function patchFieldErrors(patch: unknown): FieldError[] {
  if (!isPlainObject(patch)) return [];
  const errors = new FieldErrors();
  if (typeof patch.email === 'string') field(errors, 'email', parseEmail(patch.email));
  if (typeof patch.name === 'string') field(errors, 'name', parseUserName(patch.name));
  if (typeof patch.external_id === 'string') field(errors, 'external_id', parseExternalId(patch.external_id));
  if (typeof patch.given_name === 'string') field(errors, 'given_name', parseOptionalName(patch.given_name));
  if (typeof patch.family_name === 'string') field(errors, 'family_name', parseOptionalName(patch.family_name));
  if (isPlainObject(patch.attributes)) field(errors, 'attributes', parseAttributes(applyMergePatch({}, patch.attributes)));
  if (isPlainObject(patch.profile)) field(errors, 'profile', parseProfile(applyMergePatch({}, patch.profile)));
  return errors.list();
}
