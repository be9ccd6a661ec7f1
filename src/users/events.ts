import type { EventContext, NewEvent } from '../events/model.js';
import { USER_KEY_OF, changedFields } from './changes.js';
import { toUserDocument, type User } from './model.js';

function base(id: string, ctx: EventContext, subjectId: string, occurredAt: Date) {
  return { id, occurredAt, actor: ctx.actor ?? null, requestId: ctx.requestId ?? null, subjectId };
}

export function userCreated(id: string, user: User, ctx: EventContext): NewEvent {
  return { ...base(id, ctx, user.id, user.createdAt), type: 'user.created', data: { user: toUserDocument(user) } };
}

/**
 * `changed` names the fields that differ and `previous` holds their old values, so a receiver
 * can find the record by its old email and skip changes that are older than what it has
 * (`user.version`). What changed is changedFields() (changes.ts); fields go by their public
 * names (`external_id`), as in the user document.
 */
export function userUpdated(id: string, before: User, after: User, ctx: EventContext): NewEvent {
  const changed = changedFields(before, after);
  const previous = Object.fromEntries(changed.map((field) => [field, before[USER_KEY_OF[field]]]));
  return { ...base(id, ctx, after.id, after.updatedAt), type: 'user.updated', data: { user: toUserDocument(after), changed, previous } };
}

export function userDeleted(id: string, user: User, ctx: EventContext, at: Date): NewEvent {
  return { ...base(id, ctx, user.id, at), type: 'user.deleted', data: { user: toUserDocument(user) } };
}
