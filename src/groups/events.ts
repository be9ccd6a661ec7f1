import type { EventContext, NewEvent } from '../events/model.js';
import { toGroupDocument, type Group } from './model.js';

/**
 * Member ids per membership event: a 10,000-member change is ten events, each small enough for
 * a webhook body, not 10,000 events.
 */
export const MEMBER_IDS_PER_EVENT = 1000;

function base(id: string, ctx: EventContext, subjectId: string, occurredAt: Date) {
  return { id, occurredAt, actor: ctx.actor ?? null, requestId: ctx.requestId ?? null, subjectId };
}

export function groupCreated(id: string, group: Group, ctx: EventContext): NewEvent {
  return { ...base(id, ctx, group.id, group.createdAt), type: 'group.created', data: { group: toGroupDocument(group) } };
}

/** The group's own fields that differ. Members are never among them: they travel in membership events. */
export function changedGroupFields(before: Group, after: Group): ('display_name' | 'external_id' | 'attributes')[] {
  const changed: ('display_name' | 'external_id' | 'attributes')[] = [];
  if (before.displayName !== after.displayName) changed.push('display_name');
  if (before.externalId !== after.externalId) changed.push('external_id');
  if (JSON.stringify(before.attributes) !== JSON.stringify(after.attributes)) changed.push('attributes');
  return changed;
}

/** `changed` and `previous` as user.updated has them. */
export function groupUpdated(id: string, before: Group, after: Group, ctx: EventContext): NewEvent {
  const changed = changedGroupFields(before, after);
  const old = toGroupDocument(before);
  const previous = Object.fromEntries(changed.map((field) => [field, old[field]]));
  return { ...base(id, ctx, after.id, after.updatedAt), type: 'group.updated', data: { group: toGroupDocument(after), changed, previous } };
}

/** The members went with the group (no membership events): a receiver drops the group and its members. */
export function groupDeleted(id: string, group: Group, ctx: EventContext, at: Date): NewEvent {
  return { ...base(id, ctx, group.id, at), type: 'group.deleted', data: { group: toGroupDocument(group) } };
}

export type MembershipEventType = 'group.members_added' | 'group.members_removed';

/**
 * The events of one membership change: `userIds` in chunks of MEMBER_IDS_PER_EVENT, each naming
 * the group's version after the change (every chunk of one change has the same), so a receiver
 * can tell which changes it has applied. `reason` says why members left when no one asked
 * (`user_deleted`).
 */
export function membershipEvents(
  newId: () => string,
  type: MembershipEventType,
  group: { readonly id: string; readonly version: number },
  userIds: readonly string[],
  ctx: EventContext,
  at: Date,
  reason?: 'user_deleted',
): NewEvent[] {
  const events: NewEvent[] = [];
  for (let i = 0; i < userIds.length; i += MEMBER_IDS_PER_EVENT) {
    events.push({
      ...base(newId(), ctx, group.id, at),
      type,
      data: {
        group_id: group.id,
        version: group.version,
        user_ids: userIds.slice(i, i + MEMBER_IDS_PER_EVENT),
        ...(reason === undefined ? {} : { reason }),
      },
    });
  }
  return events;
}
