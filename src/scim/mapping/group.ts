import { invalidValue } from '../errors.js';
import type { ScimDocument } from '../schema/normalise.js';
import type { DirectoryGroup, DirectoryGroupDraft } from '../ports.js';

/** SCIM Group ⇄ Roster group: displayName ⇄ display_name, externalId ⇄ external_id; members travel apart (as deltas). */
export function groupDraftFromScim(doc: ScimDocument): DirectoryGroupDraft {
  const displayName = typeof doc.displayName === 'string' ? doc.displayName : undefined;
  if (displayName === undefined || displayName.trim() === '') throw invalidValue('"displayName" is required.');
  return { display_name: displayName, external_id: typeof doc.externalId === 'string' ? doc.externalId : null };
}

/** The member ids of a canonical Group document, deduplicated, in the order given. */
export function memberIdsOf(doc: ScimDocument): string[] {
  const members = Array.isArray(doc.members) ? (doc.members as ScimDocument[]) : [];
  const ids = new Set<string>();
  for (const member of members) {
    if (typeof member.value !== 'string' || member.value === '') throw invalidValue('Every member needs a "value" (the user id).');
    ids.add(member.value);
  }
  return [...ids];
}

export function groupToScim(group: DirectoryGroup): ScimDocument {
  const doc: ScimDocument = { id: group.id };
  if (group.external_id !== null) doc.externalId = group.external_id;
  doc.displayName = group.display_name;
  return doc;
}
