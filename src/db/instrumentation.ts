import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { LogEvent } from 'kysely';
import { inRecordedTrace } from '../kit/trace.js';
import type { DatabaseMetrics } from './metrics.js';

/** What Kysely hands its `log` hook after every query: duration, SQL text (never values), error. */
export type QueryObserver = (event: LogEvent) => void;

const OPERATIONS: Record<string, string> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
};
const TABLE = /\b(?:from|into|update)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i;

const tracer = trace.getTracer('roster.db');

/**
 * One observer for both dialects, fed by Kysely's `log` hook (so every query the stores run is
 * covered without wrapping each call): a duration sample by operation, and a CLIENT span under
 * the caller's span only when its trace is recorded (sampled): otherwise no span object is made. The span is created after the fact with
 * the query's real start time; its text is Kysely's parameterised SQL, never the values.
 */
export function observeQueries(system: 'sqlite' | 'postgresql', metrics: DatabaseMetrics | undefined): QueryObserver {
  return (event) => {
    const operation = OPERATIONS[event.query.query.kind] ?? 'other';
    const failed = event.level === 'error';
    metrics?.duration.observe({ operation, outcome: failed ? 'error' : 'ok' }, event.queryDurationMillis / 1000);
    if (!inRecordedTrace()) return;
    const end = Date.now();
    const table = TABLE.exec(event.query.sql)?.[1];
    const span = tracer.startSpan(table ? `${operation} ${table}` : operation, {
      kind: SpanKind.CLIENT,
      startTime: end - event.queryDurationMillis,
      attributes: {
        'db.system.name': system,
        'db.operation.name': operation,
        'db.query.text': event.query.sql,
        ...(table ? { 'db.collection.name': table } : {}),
      },
    });
    if (failed) {
      span.recordException(event.error instanceof Error ? event.error : String(event.error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(end);
  };
}

/** A statement a store sent to the driver itself (outside Kysely): what the metric and the span say about it. */
export interface RawStatement {
  /** The metric's `operation` label: select, insert, update, delete or other. */
  readonly operation: 'select' | 'insert' | 'update' | 'delete' | 'other';
  /** The table it is about, for the span name. */
  readonly table: string;
  /** Parameterised SQL (never the values), for the span. */
  readonly text: string;
}

/** Records one raw statement that started at `startedAt` (performance.now()) and just ended, failed when `error` is given. */
export type StatementObserver = (statement: RawStatement, startedAt: number, error?: unknown) => void;

/**
 * The same sample and span observeQueries() makes of a Kysely query, for a statement a store
 * runs on the driver directly (the PostgreSQL users store's prepared statements), so the
 * duration metric keeps counting every statement whichever path ran it. The span exists only
 * when the caller's trace is recorded: an unsampled request pays one check.
 */
export function observeStatements(system: 'sqlite' | 'postgresql', metrics: DatabaseMetrics | undefined): StatementObserver {
  return (statement, startedAt, error) => {
    const ms = performance.now() - startedAt;
    metrics?.duration.observe({ operation: statement.operation, outcome: error === undefined ? 'ok' : 'error' }, ms / 1000);
    if (!inRecordedTrace()) return;
    const end = Date.now();
    const span = tracer.startSpan(`${statement.operation} ${statement.table}`, {
      kind: SpanKind.CLIENT,
      startTime: end - ms,
      attributes: {
        'db.system.name': system,
        'db.operation.name': statement.operation,
        'db.query.text': statement.text,
        'db.collection.name': statement.table,
      },
    });
    if (error !== undefined) {
      span.recordException(error instanceof Error ? error : 'non-Error thrown');
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(end);
  };
}
