/**
 * Events: what changed in the directory, in commit order. Written by the capability that made
 * the change, in the change's own transaction (the outbox), and read by the event feed and the
 * webhook dispatcher.
 */
export const EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deleted',
  'webhook_endpoint.disabled',
  'users.imported',
  'group.created',
  'group.updated',
  'group.deleted',
  'group.members_added',
  'group.members_removed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** Who caused a change and in answer to which request; recorded on its event. */
export interface EventContext {
  /** `key:<id>`, `jwt:<sub>`, or a system actor such as `system:webhooks`. */
  readonly actor?: string | undefined;
  readonly requestId?: string | undefined;
}

/** An event before it is stored; the store gives it its sequence. */
export interface NewEvent {
  /** UUIDv7; also the `webhook-id` of every delivery of it, so receivers can deduplicate. */
  readonly id: string;
  readonly type: EventType;
  readonly occurredAt: Date;
  readonly actor: string | null;
  readonly requestId: string | null;
  /** The id of what changed (a user id, an endpoint id). */
  readonly subjectId: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface StoredEvent extends NewEvent {
  /** Increases with commit order; gaps are possible (rolled-back transactions), reordering is not. */
  readonly sequence: number;
}

/**
 * An `events` row as an adapter reads it: the column names, with the time and the data still
 * in the database's own encoding (the adapter's decoder reads them).
 */
export interface EventRow {
  readonly seq: number | string;
  readonly id: string;
  readonly type: string;
  readonly occurred_at: unknown;
  readonly actor: string | null;
  readonly request_id: string | null;
  readonly subject_id: string;
  readonly data: unknown;
}

/** How an adapter decodes its database's times and JSON (db/dialect.ts's SqlDialect is one). */
export interface RowDecoder {
  fromTime(value: unknown): Date;
  fromJson(value: unknown): unknown;
}

/** The stored event of an `events` row: shared by every adapter that reads the table (the feed, the dispatcher). */
export function toStoredEvent(row: EventRow, decode: RowDecoder): StoredEvent {
  return {
    sequence: Number(row.seq),
    id: row.id,
    type: row.type as EventType,
    occurredAt: decode.fromTime(row.occurred_at),
    actor: row.actor,
    requestId: row.request_id,
    subjectId: row.subject_id,
    data: decode.fromJson(row.data) as Record<string, unknown>,
  };
}

/** The JSON form of an event: the feed's items and the webhook body. */
export interface EventDocument {
  readonly id: string;
  readonly type: EventType;
  readonly sequence: number;
  readonly occurred_at: string;
  readonly actor: string | null;
  readonly request_id: string | null;
  readonly subject_id: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export function toEventDocument(event: StoredEvent): EventDocument {
  return {
    id: event.id,
    type: event.type,
    sequence: event.sequence,
    occurred_at: event.occurredAt.toISOString(),
    actor: event.actor,
    request_id: event.requestId,
    subject_id: event.subjectId,
    data: event.data,
  };
}
