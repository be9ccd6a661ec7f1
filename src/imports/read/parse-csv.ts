import { finished } from 'node:stream/promises';
import { createRequire } from 'node:module';
import type * as CsvParse from 'csv-parse';
import type { CsvError, Parser } from 'csv-parse';
import { ColumnResolver, resolveHeader, type ColumnOptions } from './columns.js';
import { unescapeFormula } from './csv-cells.js';
import { ImportFileError } from '../errors.js';
import { parseJsonText } from './json.js';
import { NO_ERRORS, rejected, type ImportField, type ParseItem, type RowError, type Stage } from './rows.js';
import { DEFAULT_MAX_LINE_BYTES, type SourceChunk } from './source.js';

export interface CsvOptions extends ColumnOptions {
  /** The longest record, in characters, across all its lines (csv-parse's `max_record_size`). */
  readonly maxRecordChars?: number;
}

/**
 * CSV records → parsed rows, by csv-parse under RFC 4180 with nothing relaxed: the first
 * record is the header (resolveHeader); a record with the wrong number of fields, a NUL, a
 * non-UTF-8 line, an attributes or profile cell that is not JSON or an `active` cell other than
 * true/false (any case) is a row error and parsing goes on. An empty optional cell is absent.
 * Quoting errors are an ImportFileError: after a stray or unclosed quote, where the next record
 * starts is a guess, and a wrong guess invents or swallows rows. Blank lines are skipped.
 *
 * Line numbers are counted here, not taken from csv-parse: its `info` option halves its
 * throughput (a copied object per record, measured 315k vs 622k rows/s) and its line counter
 * counts a CR inside a quoted field as a line. Records are contiguous (blank lines come out as
 * `['']`), so a record starts on the line after the previous one ends and spans one line more
 * than the line feeds inside its fields.
 */
// csv-parse is loaded when the first CSV import runs, not when the server starts (its CommonJS
// build, hence require(); this is the only module that uses it, so its CsvError is this one's).
const require = createRequire(import.meta.url);
const loadCsvParse = () => require('csv-parse') as typeof CsvParse;

export function parseCsv(options: CsvOptions = {}): Stage<SourceChunk, ParseItem[]> {
  const { parse, CsvError } = loadCsvParse();
  const resolver = new ColumnResolver(options);
  const maxRecordChars = options.maxRecordChars ?? DEFAULT_MAX_LINE_BYTES;
  return async function* csv(chunks, { signal } = {}) {
    const parser = parse({
      bom: true,
      record_delimiter: ['\r\n', '\n'],
      relax_column_count: true,
      skip_empty_lines: false,
      max_record_size: maxRecordChars,
    });
    const records = new CsvRecords(resolver);
    let items: ParseItem[] = [];
    let failure: Error | undefined;
    // Records arrive as 'data' events, which csv-parse emits while it transforms the chunk
    // just written; taking them that way costs far less than an async iterator's promise per
    // record. The array holds one chunk's records, handed on after each write.
    parser.on('data', (record: string[]) => {
      if (failure !== undefined) return;
      try {
        const item = records.accept(record);
        if (item !== undefined) items.push(item);
      } catch (error) {
        failure = error as Error; // an ImportFileError from the header check
        parser.destroy(failure);
      }
    });
    parser.on('error', (error) => (failure ??= error));
    const take = () => {
      if (failure !== undefined) throw failure instanceof CsvError ? fileErrorOf(failure, maxRecordChars) : failure;
      const taken = items;
      items = [];
      return taken;
    };
    try {
      for await (const chunk of chunks) {
        signal?.throwIfAborted();
        records.queueInvalidLines(chunk.invalidLines);
        if (!parser.write(chunk.bytes)) await drained(parser);
        const taken = take();
        if (taken.length > 0) yield taken;
      }
      parser.end();
      await finished(parser).catch(() => {}); // a failure is in `failure`, thrown by take()
      const taken = take();
      if (taken.length > 0) yield taken;
      records.finish();
    } finally {
      parser.destroy();
    }
  };
}

/** The header, the line count and the queue of non-UTF-8 lines across one file's records. */
class CsvRecords {
  readonly #resolver: ColumnResolver;
  readonly #invalidLines: number[] = [];
  #columns: (ImportField | undefined)[] | undefined;
  #lastLine = 0;

  constructor(resolver: ColumnResolver) {
    this.#resolver = resolver;
  }

  queueInvalidLines(lines: readonly number[]): void {
    for (const line of lines) this.#invalidLines.push(line);
  }

  /** The item for one record; `undefined` for the header and blank lines. */
  accept(record: string[]): ParseItem | undefined {
    const line = this.#lastLine + 1;
    this.#lastLine = line + lineFeedsIn(record);
    if (record.length === 1 && record[0] === '') return undefined;
    const invalid = takeLinesUpTo(this.#invalidLines, this.#lastLine) >= line;
    if (this.#columns === undefined) {
      if (invalid) throw new ImportFileError('encoding', 'the header row is not UTF-8', { line });
      this.#columns = resolveHeader(record, this.#resolver);
      return undefined;
    }
    return invalid ? rejected(line, [{ reason: 'has bytes that are not UTF-8' }]) : toParseItem(record, this.#columns, line);
  }

  /** At the end of the file: a CSV import without even a header row is refused. */
  finish(): void {
    if (this.#columns === undefined) throw new ImportFileError('header', 'the file is empty; a CSV import starts with a header row');
  }
}

/** Resolves on 'drain' or 'close' (events.once would wait forever on a parser destroyed without an error). */
function drained(parser: Parser): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      parser.off('drain', done);
      parser.off('close', done);
      resolve();
    };
    parser.on('drain', done);
    parser.on('close', done);
  });
}

/** Removes the queued line numbers up to `last` and returns the highest, or 0. */
function takeLinesUpTo(lines: number[], last: number): number {
  if (lines.length === 0 || lines[0]! > last) return 0;
  let count = 0;
  while (count < lines.length && lines[count]! <= last) count++;
  return lines.splice(0, count).at(-1)!;
}

function lineFeedsIn(record: readonly string[]): number {
  let count = 0;
  for (const cell of record) {
    for (let at = cell.indexOf('\n'); at !== -1; at = cell.indexOf('\n', at + 1)) count++;
  }
  return count;
}

function toParseItem(record: readonly string[], columns: readonly (ImportField | undefined)[], line: number): ParseItem {
  if (record.length !== columns.length) {
    return rejected(line, [
      { reason: `has ${record.length} ${record.length === 1 ? 'field' : 'fields'} but the header has ${columns.length}` },
    ]);
  }
  const fields: Partial<Record<ImportField, unknown>> = {};
  let errors: RowError[] | undefined;
  let bytes = record.length;
  for (let i = 0; i < record.length; i++) {
    const field = columns[i];
    const cell = record[i]!;
    bytes += cell.length;
    if (field === undefined) continue;
    if (cell.includes('\u0000')) {
      (errors ??= []).push({ line, field, reason: 'contains a NUL character' });
      continue;
    }
    const text = unescapeFormula(cell);
    if (field === 'attributes' || field === 'profile') {
      if (text === '') continue;
      const parsed = parseJsonText(text);
      if (parsed.ok) fields[field] = parsed.value;
      else (errors ??= []).push({ line, field, reason: parsed.reason });
    } else if (field === 'active') {
      if (text === '') continue;
      const active = ACTIVE_CELLS[text.toLowerCase()];
      if (active === undefined) (errors ??= []).push({ line, field, reason: 'must be true or false' });
      else fields.active = active;
    } else if (OPTIONAL_TEXT.has(field)) {
      // An empty cell is no value: the default (active, no external id or name part).
      if (text !== '') fields[field] = text;
    } else {
      fields[field] = text;
    }
  }
  return { kind: 'parsed', line, bytes, fields, errors: errors ?? NO_ERRORS };
}

const ACTIVE_CELLS: Partial<Record<string, boolean>> = { true: true, false: false };
const OPTIONAL_TEXT = new Set<ImportField>(['id', 'external_id', 'given_name', 'family_name']);

const SYNTAX_REASONS: Partial<Record<string, string>> = {
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted field; RFC 4180 wants the whole field quoted and the quote doubled ("O""Brien")',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by more text before the comma or line end',
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
};

function fileErrorOf(error: CsvError, maxRecordChars: number): ImportFileError {
  // csv-parse's line count (see parseCsv): exact unless a quoted field above holds a lone CR.
  const line = typeof error.lines === 'number' ? error.lines : undefined;
  const where = line === undefined ? {} : { line };
  if (error.code === 'CSV_MAX_RECORD_SIZE') {
    return new ImportFileError('too-long', `a record is longer than ${maxRecordChars} characters; no valid row is that long`, {
      ...where,
      cause: error,
    });
  }
  return new ImportFileError('syntax', `the file is not valid CSV: ${SYNTAX_REASONS[error.code] ?? error.message}`, {
    ...where,
    cause: error,
  });
}
