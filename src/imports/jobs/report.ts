import { finished } from 'node:stream/promises';
import { csvRecord } from '../read/csv-cells.js';
import type { CheckedItem, RejectedRow, RowError, Stage } from '../read/rows.js';

/** How an import run ends: every row read is counted once in created, updated, skipped or failed. */
export interface ImportCounts {
  /** Records read from the file (the CSV header and blank lines are not rows). */
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  /** Rows that matched a user and changed nothing (upsert), or were not written (dry run). */
  readonly skipped: number;
  /** Rows in the error report. */
  readonly failed: number;
}

/** The live counters of a run, shared by the stages, the writer and the progress reporter. */
export class ImportCounters implements ImportCounts {
  read = 0;
  created = 0;
  updated = 0;
  skipped = 0;
  failed = 0;
  /** Bytes of the file read so far, for progress against its size. */
  bytes = 0;

  snapshot(): ImportCounts & { readonly bytes: number } {
    const { read, created, updated, skipped, failed, bytes } = this;
    return { read, created, updated, skipped, failed, bytes };
  }
}

/** A pass-through stage that counts the rows read and those the front half rejected. */
export function countRows(counters: { read: number; failed: number }): Stage<CheckedItem[], CheckedItem[]> {
  return async function* count(chunks) {
    for await (const items of chunks) {
      counters.read += items.length;
      for (const item of items) if (item.kind === 'rejected') counters.failed++;
      yield items;
    }
  };
}

export type ReportFormat = 'csv' | 'ndjson';

/**
 * One report entry as a line. The CSV form (`line,field,reason`) escapes cells the way the
 * export does, since a report is opened in spreadsheets too and a column name is file data.
 */
export function formatRowError(error: RowError, format: ReportFormat): string {
  if (format === 'ndjson') return `${JSON.stringify({ line: error.line, field: error.field ?? null, reason: error.reason })}\n`;
  return csvRecord([String(error.line), error.field ?? '', error.reason]);
}

export const REPORT_CSV_HEADER = csvRecord(['line', 'field', 'reason']);

/** Row errors → report text (the CSV header first), e.g. to stream a stored report as a download. */
export function formatRowErrors(format: ReportFormat): Stage<RowError, string> {
  return async function* report(errors) {
    if (format === 'csv') yield REPORT_CSV_HEADER;
    for await (const error of errors) yield formatRowError(error, format);
  };
}

/** The part of a writable stream the report needs (a file, a response, stdout). */
export type ReportSink = NodeJS.WritableStream;

/**
 * Writes rejected rows to a sink as they come, respecting its backpressure: `add` resolves
 * once the sink can take more. `close` ends the sink and waits until it has flushed.
 */
export class RowErrorReport {
  readonly #sink: ReportSink;
  readonly #format: ReportFormat;
  #started = false;

  constructor(sink: ReportSink, format: ReportFormat) {
    this.#sink = sink;
    this.#format = format;
  }

  async add(rows: readonly RejectedRow[], signal?: AbortSignal): Promise<void> {
    let text = this.#start();
    for (const row of rows) for (const error of row.errors) text += formatRowError(error, this.#format);
    if (text !== '' && !this.#sink.write(text)) await drain(this.#sink, signal);
  }

  async close(signal?: AbortSignal): Promise<void> {
    const header = this.#start();
    if (header !== '') this.#sink.write(header);
    this.#sink.end();
    await finished(this.#sink, signal === undefined ? {} : { signal });
  }

  #start(): string {
    if (this.#started) return '';
    this.#started = true;
    return this.#format === 'csv' ? REPORT_CSV_HEADER : '';
  }
}

/** Resolves on 'drain'; rejects if the sink fails, closes first, or `signal` aborts. */
function drain(sink: ReportSink, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: unknown) => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      sink.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error('the report sink failed', { cause: error }));
    };
    const onDrain = () => settle();
    const onError = (error: unknown) => settle(error);
    const onClose = () => settle(new Error('the report sink closed before it took the report'));
    const onAbort = () => settle(signal?.reason);
    sink.on('drain', onDrain);
    sink.on('error', onError);
    sink.on('close', onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
