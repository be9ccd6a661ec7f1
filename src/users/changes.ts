import type { User } from './model.js';

/**
 * The fields a change can touch, by their public names (the API's, the columns', the events'),
 * in the order `user.updated` reports them.
 */
export const CHANGEABLE_FIELDS = ['email', 'name', 'attributes', 'active', 'external_id', 'given_name', 'family_name', 'profile'] as const;
export type ChangeableField = (typeof CHANGEABLE_FIELDS)[number];

/** The User property each field is kept in. */
export const USER_KEY_OF = {
  email: 'email',
  name: 'name',
  attributes: 'attributes',
  active: 'active',
  external_id: 'externalId',
  given_name: 'givenName',
  family_name: 'familyName',
  profile: 'profile',
} as const satisfies Record<ChangeableField, keyof User>;
export type ChangeableKey = (typeof USER_KEY_OF)[ChangeableField];
/** The changeable part of a user (a NewUser has exactly these). */
export type ChangeableValues = Pick<User, ChangeableKey>;

/**
 * What a change changed: the fields whose values differ between `before` and `after`, in
 * CHANGEABLE_FIELDS order. The one definition of "changed" for every path that writes users:
 * a merge patch (patch.ts) and the `user.updated` event (events.ts) on the API path, an import
 * upsert in both batch writers. Nothing changed means no new version, no `updated_at` and no
 * event.
 * - Text fields (`email`, `name`, `external_id`, `given_name`, `family_name`) compare as exact
 *   text, null only equal to null: a change of case is a change (the email's key, foldKey(),
 *   stays the same, which is how an upsert found the user).
 * - `attributes` and `profile` compare by sameJson(): key order does not matter.
 */
export function changedFields(before: ChangeableValues, after: ChangeableValues): ChangeableField[] {
  const changed: ChangeableField[] = [];
  for (const field of CHANGEABLE_FIELDS) {
    const key = USER_KEY_OF[field];
    const same = key === 'attributes' || key === 'profile' ? sameJson(before[key], after[key]) : before[key] === after[key];
    if (!same) changed.push(field);
  }
  return changed;
}

/**
 * Canonical JSON equality, the equality of attributes: object keys are a set, so their order
 * never matters, at any depth (objects inside arrays too); array order does; scalars compare by
 * value (`1` and `1.0` are one number once parsed). It is PostgreSQL's jsonb equality over the
 * values attributes can hold (JSON.parse output that passed parseAttributes), which is what the
 * PostgreSQL batch writer uses in SQL (`attributes = old_attributes`); SQLite stores the text
 * as written, so its writer compares with this. Stored attributes keep the order they were
 * written in (the API returns them so on SQLite; jsonb has an order of its own): only the
 * comparison is canonical.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
