import { isPlainObject } from '../../users/model.js';
import { ColumnResolver, UNKNOWN_NAME_REASON, type ColumnOptions } from './columns.js';
import { parseJsonText } from './json.js';
import { NO_ERRORS, rejected, type ImportField, type ParseItem, type RowError, type Stage } from './rows.js';
import type { SourceChunk } from './source.js';

const LF = 0x0a;
const NULL_MEANS_ABSENT = new Set<ImportField>(['id', 'attributes', 'profile']);
const BLANK = /^[ \t\r]*$/;

/**
 * NDJSON lines → parsed rows: one JSON object per line, blank lines skipped. A line that is
 * not JSON, not an object, holds a forbidden prototype key, has bytes that are not UTF-8, or
 * names an unknown key (unless mapped or ignored) is a row error; parsing goes on. The source
 * already cut the input at line feeds and capped line length, so this is a plain split.
 * `null` for the optional `id`, `attributes` and `profile` means absent, as `attributes: null`
 * does in the API; for `external_id`, `given_name` and `family_name` it means none, which is also
 * their default.
 */
export function parseNdjson(options: ColumnOptions = {}): Stage<SourceChunk, ParseItem[]> {
  const resolver = new ColumnResolver(options);
  return async function* ndjson(chunks, { signal } = {}) {
    for await (const { bytes, firstLine, invalidLines } of chunks) {
      signal?.throwIfAborted();
      const items: ParseItem[] = [];
      let invalid = 0;
      for (let start = 0, line = firstLine; start < bytes.length; line++) {
        const newline = bytes.indexOf(LF, start);
        const end = newline === -1 ? bytes.length : newline;
        const text = bytes.toString('utf8', start, end);
        start = end + 1;
        if (invalidLines[invalid] === line) {
          invalid++;
          items.push(rejected(line, [{ reason: 'has bytes that are not UTF-8' }]));
        } else if (!BLANK.test(text)) {
          items.push(parseLine(text, line, resolver));
        }
      }
      if (items.length > 0) yield items;
    }
  };
}

function parseLine(text: string, line: number, resolver: ColumnResolver): ParseItem {
  const parsed = parseJsonText(text);
  if (!parsed.ok) return rejected(line, [{ reason: parsed.reason }]);
  if (!isPlainObject(parsed.value)) return rejected(line, [{ reason: 'must be a JSON object' }]);
  const fields: Partial<Record<ImportField, unknown>> = {};
  let errors: RowError[] | undefined;
  const keyOf: Partial<Record<ImportField, string>> = {};
  for (const [key, value] of Object.entries(parsed.value)) {
    const field = resolver.fieldOf(key);
    if (field === 'unknown') {
      (errors ??= []).push({ line, field: key, reason: UNKNOWN_NAME_REASON });
      continue;
    }
    if (field === undefined) continue;
    const other = keyOf[field];
    if (other !== undefined) {
      (errors ??= []).push({ line, field, reason: `is given twice, as ${JSON.stringify(other)} and ${JSON.stringify(key)}` });
      continue;
    }
    keyOf[field] = key;
    if (value !== null || !NULL_MEANS_ABSENT.has(field)) fields[field] = value;
  }
  return { kind: 'parsed', line, bytes: text.length, fields, errors: errors ?? NO_ERRORS };
}
