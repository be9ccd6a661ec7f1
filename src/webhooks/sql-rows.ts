import type { Selectable } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import type { WebhookAttemptsTable, WebhookEndpointsTable } from '../db/schema.js';
import type { EventType } from '../events/model.js';
import type { EndpointSecret, WebhookEndpoint } from './model.js';
import type { DeliveryAttempt } from './service.js';

// Rows of webhook_endpoints and webhook_attempts ↔ the capability's types, for both SQL
// adapters (sql-store.ts, sql-delivery-store.ts). Only the dialect's encodings are involved.

type EndpointRow = Selectable<WebhookEndpointsTable>;

/** A boolean as the dialect binds it: better-sqlite3 binds no booleans. */
export function sqlBool(dialect: SqlDialect, value: boolean): boolean | number {
  return dialect.name === 'sqlite' ? (value ? 1 : 0) : value;
}

/** The row of an endpoint, unleased. */
export function toEndpointRow(e: WebhookEndpoint, dialect: SqlDialect) {
  const t = (date: Date) => dialect.toTime(date);
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    event_types: e.eventTypes === null ? null : dialect.toJson(e.eventTypes),
    enabled: sqlBool(dialect, e.enabled),
    ordered: sqlBool(dialect, e.ordered),
    secrets: dialect.toJson(e.secrets.map((s) => ({ secret: s.secret, expires_at: s.expiresAt?.toISOString() ?? null }))),
    created_at: t(e.createdAt),
    updated_at: t(e.updatedAt),
    disabled_at: e.disabledAt === null ? null : t(e.disabledAt),
    disabled_reason: e.disabledReason,
    cursor: e.cursor,
    next_attempt_at: t(e.nextAttemptAt),
    attempt: e.attempt,
    failing_since: e.failingSince === null ? null : t(e.failingSince),
    lease_owner: null,
    lease_until: null,
  };
}

export function toEndpoint(row: EndpointRow, dialect: SqlDialect): WebhookEndpoint {
  const d = dialect;
  const secrets = d.fromJson(row.secrets) as { secret: string; expires_at: string | null }[];
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types === null ? null : (d.fromJson(row.event_types) as EventType[]),
    enabled: Boolean(row.enabled),
    ordered: Boolean(row.ordered),
    secrets: secrets.map((s): EndpointSecret => ({ secret: s.secret, expiresAt: s.expires_at === null ? null : new Date(s.expires_at) })),
    createdAt: d.fromTime(row.created_at),
    updatedAt: d.fromTime(row.updated_at),
    disabledAt: row.disabled_at === null ? null : d.fromTime(row.disabled_at),
    disabledReason: row.disabled_reason,
    cursor: Number(row.cursor),
    nextAttemptAt: d.fromTime(row.next_attempt_at),
    attempt: row.attempt,
    failingSince: row.failing_since === null ? null : d.fromTime(row.failing_since),
  };
}

export function toAttemptRow(a: DeliveryAttempt, dialect: SqlDialect) {
  return {
    id: a.id,
    endpoint_id: a.endpointId,
    event_id: a.eventId,
    event_seq: a.eventSequence,
    attempt: a.attempt,
    attempted_at: dialect.toTime(a.attemptedAt),
    outcome: a.outcome,
    status: a.status,
    latency_ms: a.latencyMs,
    error_code: a.errorCode,
    error_message: a.errorMessage,
    response_body: a.responseBody,
    replay: sqlBool(dialect, a.replay),
  };
}

export function toAttempt(row: Selectable<WebhookAttemptsTable>, dialect: SqlDialect): DeliveryAttempt {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventSequence: Number(row.event_seq),
    attempt: row.attempt,
    attemptedAt: dialect.fromTime(row.attempted_at),
    outcome: row.outcome,
    status: row.status,
    latencyMs: row.latency_ms,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    responseBody: row.response_body,
    replay: Boolean(row.replay),
  };
}
