import { FieldErrors, pointerSegment, type FieldError } from '../kit/errors.js';
import { applyMergePatch } from '../kit/merge-patch.js';
import { CHANGEABLE_FIELDS, changedFields } from './changes.js';
import { field, isPlainObject, parseAttributes, parseEmail, parseUserName, type User } from './model.js';

const PATCHABLE = new Set<string>(CHANGEABLE_FIELDS);

/**
 * Applies an RFC 7396 merge patch to a user and re-checks every rule on the result.
 * `attributes` merges key by key (null removes a key; `"attributes": null` clears them all);
 * `email` and `name` can be replaced but not removed.
 * @returns the changed fields (changedFields()), or an empty object when the patch changes nothing.
 * @throws ValidationError listing every bad field.
 */
export function applyUserPatch(current: User, patch: unknown): Partial<Pick<User, 'email' | 'name' | 'attributes'>> {
  const errors = new FieldErrors();
  if (!isPlainObject(patch)) {
    errors.add('', 'must be a JSON object');
    errors.throwIfAny();
    return {};
  }
  const candidate: { -readonly [K in 'email' | 'name' | 'attributes']: User[K] } = {
    email: current.email,
    name: current.name,
    attributes: current.attributes,
  };
  for (const key of Object.keys(patch)) {
    if (!PATCHABLE.has(key)) errors.add(`/${pointerSegment(key)}`, 'is not a field that can be changed');
  }
  if ('email' in patch) {
    const email = patch.email === null ? undefined : field(errors, 'email', parseEmail(patch.email));
    if (patch.email === null) errors.add('/email', 'cannot be removed');
    if (email !== undefined) candidate.email = email;
  }
  if ('name' in patch) {
    const name = patch.name === null ? undefined : field(errors, 'name', parseUserName(patch.name));
    if (patch.name === null) errors.add('/name', 'cannot be removed');
    if (name !== undefined) candidate.name = name;
  }
  if ('attributes' in patch) {
    const merged = patch.attributes === null ? {} : applyMergePatch(current.attributes, patch.attributes);
    const attributes = field(errors, 'attributes', parseAttributes(merged));
    if (attributes !== undefined) candidate.attributes = attributes;
  }
  errors.throwIfAny();
  return Object.fromEntries(changedFields(current, candidate).map((key) => [key, candidate[key]]));
}

/** The rule violations of a patch's own fields, without a current user: for merging with schema errors. */
export function patchFieldErrors(patch: unknown): FieldError[] {
  if (!isPlainObject(patch)) return [];
  const errors = new FieldErrors();
  if (typeof patch.email === 'string') field(errors, 'email', parseEmail(patch.email));
  if (typeof patch.name === 'string') field(errors, 'name', parseUserName(patch.name));
  if (isPlainObject(patch.attributes)) field(errors, 'attributes', parseAttributes(applyMergePatch({}, patch.attributes)));
  return errors.list();
}
