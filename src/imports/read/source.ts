import { isUtf8 } from 'node:buffer';
import { ImportFileError } from '../errors.js';
import type { Stage } from './rows.js';

/** A piece of the file cut at line ends, so no line and no UTF-8 sequence spans two chunks. */
export interface SourceChunk {
  /** Whole lines, each with its '\n' (the file's last line may lack one). Never starts with a BOM. */
  readonly bytes: Buffer;
  /** The line number of bytes[0], from 1. */
  readonly firstLine: number;
  /** Lines of this chunk holding bytes that are not UTF-8, ascending: their rows are to be rejected. */
  readonly invalidLines: readonly number[];
}

export interface SourceOptions {
  /**
   * The longest line accepted, in bytes. The largest valid row is about 34 KiB (16 KiB of
   * attributes with every quote doubled by CSV, a 254-byte email, a 200-character name), so
   * a longer line means the file is not what it claims to be; it is refused after reading at
   * most this many bytes of it.
   */
  readonly maxLineBytes?: number;
  /** How much of the start is examined for the file-level checks before anything is handed on. */
  readonly sniffBytes?: number;
  /** Incremented with every byte read (BOM included), for progress against the file size. */
  readonly counters?: { bytes: number };
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
export const DEFAULT_SNIFF_BYTES = 64 * 1024;
/** Input pieces are cut to this size (views, not copies), which bounds the rows per chunk downstream (see rows.ts). */
const MAX_PIECE_BYTES = 16 * 1024;
const NO_LINES: readonly number[] = Object.freeze([]);
const LF = 0x0a;
const CR = 0x0d;

/**
 * The first stage: raw bytes in, line-aligned UTF-8 chunks out.
 *
 * Whole-file problems in the first `sniffBytes` (a UTF-16/32 byte order mark, a gzip or ZIP
 * file, mostly NUL bytes, invalid UTF-8, old Mac CR-only line ends) are an ImportFileError
 * before any chunk is yielded, naming the line. Invalid UTF-8 found later cannot stop the
 * rows already written, and it does not move record boundaries (no invalid sequence contains
 * a quote, comma or line feed), so it is reported per line in `invalidLines` and the parser
 * rejects the row that contains it, rather than letting the decoder's U+FFFD into a name.
 * A line longer than `maxLineBytes` is an ImportFileError wherever it is (see SourceOptions).
 */
export function readSource(options: SourceOptions = {}): Stage<Uint8Array, SourceChunk> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const sniffBytes = options.sniffBytes ?? DEFAULT_SNIFF_BYTES;
  const counters = options.counters;
  return async function* source(input, { signal } = {}) {
    const aligner = new LineAligner(maxLineBytes);
    let window: Buffer[] | undefined = [];
    let windowLength = 0;
    let nextLine = 1;
    const emit = (bytes: Buffer | undefined): SourceChunk | undefined => {
      if (bytes === undefined || bytes.length === 0) return undefined;
      const chunk = { bytes, firstLine: nextLine, invalidLines: invalidLinesOf(bytes, nextLine) };
      nextLine = aligner.line;
      return chunk;
    };
    for await (const piece of input) {
      signal?.throwIfAborted();
      const bytes = asBuffer(piece);
      if (counters) counters.bytes += bytes.length;
      if (window !== undefined) {
        window.push(bytes);
        windowLength += bytes.length;
        if (windowLength < sniffBytes) continue;
      }
      const next = window === undefined ? bytes : checkStart(Buffer.concat(window, windowLength), sniffBytes);
      window = undefined;
      for (const slice of slices(next)) {
        const chunk = emit(aligner.push(slice));
        if (chunk) yield chunk;
      }
    }
    signal?.throwIfAborted();
    if (window !== undefined) {
      for (const slice of slices(checkStart(Buffer.concat(window, windowLength), sniffBytes))) {
        const chunk = emit(aligner.push(slice));
        if (chunk) yield chunk;
      }
    }
    const last = emit(aligner.end());
    if (last) yield last;
  };
}

/**
 * Cuts a byte stream after its last line feed, keeping the partial line for the next piece,
 * and refuses any line longer than the cap without buffering more of it than that.
 */
class LineAligner {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** The number of the line the pending bytes belong to. */
  line = 1;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** The complete lines now available, if any. */
  push(piece: Buffer): Buffer | undefined {
    let newline = piece.indexOf(LF);
    if (newline === -1) {
      this.#pendingLength += piece.length;
      this.#checkLength(this.#pendingLength, this.line);
      this.#pending.push(piece);
      return undefined;
    }
    this.#checkLength(this.#pendingLength + newline, this.line);
    let line = this.line + 1;
    let last = newline;
    while ((newline = piece.indexOf(LF, last + 1)) !== -1) {
      this.#checkLength(newline - last - 1, line);
      line++;
      last = newline;
    }
    this.#checkLength(piece.length - last - 1, line);
    const head = piece.subarray(0, last + 1);
    const lines = this.#pending.length === 0 ? head : Buffer.concat([...this.#pending, head]);
    const rest = piece.subarray(last + 1);
    this.#pending = rest.length === 0 ? [] : [rest];
    this.#pendingLength = rest.length;
    this.line = line;
    return lines;
  }

  /** The last line, when the file does not end with a line feed. */
  end(): Buffer | undefined {
    if (this.#pendingLength === 0) return undefined;
    const rest = Buffer.concat(this.#pending, this.#pendingLength);
    this.#pending = [];
    this.#pendingLength = 0;
    return rest;
  }

  #checkLength(length: number, line: number): void {
    if (length > this.#maxLineBytes) {
      throw new ImportFileError('too-long', `the line is longer than ${this.#maxLineBytes} bytes; no valid row is that long`, {
        line,
      });
    }
  }
}

/**
 * The whole-file checks on the first `sniffBytes` of `start` (exactly those, however the input
 * was cut); returns `start` without a UTF-8 byte order mark.
 */
function checkStart(start: Buffer, sniffBytes: number): Buffer {
  const starts = (...bytes: number[]) => bytes.every((b, i) => start[i] === b);
  if (starts(0xff, 0xfe) || starts(0xfe, 0xff) || starts(0x00, 0x00, 0xfe, 0xff)) {
    throw encodingError('is UTF-16 or UTF-32 (it starts with that byte order mark); save it as UTF-8');
  }
  if (starts(0x1f, 0x8b)) throw encodingError('is gzip-compressed; decompress it first');
  if (starts(0x50, 0x4b, 0x03, 0x04)) throw encodingError('is a ZIP archive (an .xlsx workbook?); export the sheet as CSV (UTF-8)');
  const body = starts(0xef, 0xbb, 0xbf) ? start.subarray(3) : start;
  const text = body.subarray(0, sniffBytes);
  // UTF-16 without a byte order mark puts a NUL beside every ASCII character; so do most
  // binaries. A few NULs are left to the rows that hold them (a row error each).
  if (countByte(text, 0) * 10 > text.length) {
    throw encodingError('looks like UTF-16 without a byte order mark, or a binary file; save it as UTF-8');
  }
  if (!isValidUtf8Prefix(text)) {
    const offset = firstInvalidByte(text);
    throw encodingError(`is not UTF-8 (invalid bytes near byte ${offset}); save it as UTF-8`, 1 + countByte(text.subarray(0, offset), LF));
  }
  const cr = text.indexOf(CR);
  if (cr !== -1 && cr < text.length - 1 && text.indexOf(LF) === -1) {
    throw encodingError('ends its lines with CR alone (classic Mac OS); save it with LF or CRLF line ends');
  }
  return body;
}

function encodingError(what: string, line?: number): ImportFileError {
  return new ImportFileError('encoding', `the file ${what}`, line === undefined ? {} : { line });
}

/** Line numbers of the lines in `bytes` that are not UTF-8; nearly always none, at the cost of one scan. */
function invalidLinesOf(bytes: Buffer, firstLine: number): readonly number[] {
  if (isUtf8(bytes)) return NO_LINES;
  const lines: number[] = [];
  for (let start = 0, line = firstLine; start < bytes.length; line++) {
    const newline = bytes.indexOf(LF, start);
    const end = newline === -1 ? bytes.length : newline + 1;
    if (!isUtf8(bytes.subarray(start, end))) lines.push(line);
    start = end;
  }
  return lines;
}

/**
 * True when `bytes` is UTF-8 or a cut-off prefix of it. The fatal TextDecoder in streaming
 * mode is the standard check for that; it says whether, never where.
 */
function isValidUtf8Prefix(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Where the decoder first fails: a binary search over prefixes, since it does not report offsets. */
function firstInvalidByte(bytes: Uint8Array): number {
  let valid = 0;
  let invalid = bytes.length;
  while (invalid - valid > 1) {
    const middle = (valid + invalid) >>> 1;
    if (isValidUtf8Prefix(bytes.subarray(0, middle))) valid = middle;
    else invalid = middle;
  }
  return valid;
}

function countByte(bytes: Buffer, byte: number): number {
  let count = 0;
  for (let i = bytes.indexOf(byte); i !== -1; i = bytes.indexOf(byte, i + 1)) count++;
  return count;
}

function* slices(bytes: Buffer): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += MAX_PIECE_BYTES) yield bytes.subarray(start, start + MAX_PIECE_BYTES);
}

function asBuffer(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  throw new TypeError('an import source must yield bytes (a stream without an encoding set)');
}
