import { parseCsv, type CsvOptions } from './parse-csv.js';
import { parseNdjson } from './parse-ndjson.js';
import type { ParseItem, Stage } from './rows.js';
import type { SourceChunk } from './source.js';

export { parseColumnMap, type ColumnOptions } from './columns.js';
export { parseCsv, type CsvOptions } from './parse-csv.js';
export { parseNdjson } from './parse-ndjson.js';

export type ImportFormat = 'csv' | 'ndjson';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['csv', 'ndjson'];

/** The parse stage for a format: CSV with a header row (parse-csv.ts) or NDJSON (parse-ndjson.ts). */
export function parseRows(format: ImportFormat, options: CsvOptions = {}): Stage<SourceChunk, ParseItem[]> {
  return format === 'csv' ? parseCsv(options) : parseNdjson(options);
}
