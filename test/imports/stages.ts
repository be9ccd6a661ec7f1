/** Small drivers for the import stages in tests: in-memory inputs, collected outputs. */
import { dedupeEmails, type DedupeOptions } from '../../src/imports/read/dedupe.js';
import { parseRows, type CsvOptions, type ImportFormat } from '../../src/imports/read/parse.js';
import type { CheckedItem, ParseItem } from '../../src/imports/read/rows.js';
import { readSource, type SourceChunk, type SourceOptions } from '../../src/imports/read/source.js';
import { validateRows } from '../../src/imports/read/validate.js';

/** The input as a byte stream, cut into the given pieces (or one piece per argument). */
export async function* bytes(...parts: (string | Uint8Array)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : Buffer.from(part);
}

/** `text` cut into pieces of `size` bytes, regardless of characters and lines. */
export async function* piecesOf(text: string | Buffer, size: number): AsyncGenerator<Buffer> {
  const all = typeof text === 'string' ? Buffer.from(text) : text;
  for (let at = 0; at < all.length; at += size) yield all.subarray(at, at + size);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function flat<T>(chunks: AsyncIterable<readonly T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of chunks) out.push(...chunk);
  return out;
}

export function chunks(input: AsyncIterable<Uint8Array>, options?: SourceOptions): AsyncGenerator<SourceChunk> {
  return readSource(options)(input);
}

/** source → parse, every item in order. */
export function parsed(text: string | Buffer, format: ImportFormat, options: CsvOptions & SourceOptions = {}): Promise<ParseItem[]> {
  return flat(parseRows(format, options)(chunks(bytes(text), options)));
}

/** source → parse → validate (→ dedupe), every item in order. */
export function checked(
  input: string | Buffer | AsyncIterable<Uint8Array>,
  format: ImportFormat,
  options: CsvOptions & SourceOptions & { dedupe?: DedupeOptions } = {},
): Promise<CheckedItem[]> {
  const source = typeof input === 'string' || Buffer.isBuffer(input) ? bytes(input) : input;
  const valid = validateRows()(parseRows(format, options)(chunks(source, options)));
  return flat(options.dedupe ? dedupeEmails(options.dedupe)(valid) : valid);
}
