import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from './errors.js';

/** A pagination cursor was malformed, forged, or used with other filters than it was made for. */
export class InvalidCursorError extends AppError {
  readonly code = 'invalid-cursor';
}

const MAC_BYTES = 16;
/**
 * A search cursor holds the key it stopped at: a folded name can be ~600 code points (a 200-code-point
 * name, folding expands a code point to at most three), up to ~2.4 KB of UTF-8 and ~3.3 KB as base64url.
 */
export const MAX_CURSOR_LENGTH = 4096;

/**
 * Opaque, tamper-evident cursors: base64url(JSON payload) "." base64url(HMAC-SHA256 truncated
 * to 128 bits). Clients cannot forge a position or move a cursor to another query, and the
 * format can change without breaking anyone who treats it as opaque.
 */
export class CursorCodec {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new RangeError('cursor key must be at least 32 bytes');
    this.#key = key;
  }

  encode(payload: Record<string, string>): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.#mac(body).toString('base64url')}`;
  }

  /** @throws InvalidCursorError for anything this codec did not produce. */
  decode(cursor: string): Record<string, string> {
    const invalid = () => new InvalidCursorError('The cursor is not valid for this query.');
    if (cursor.length > MAX_CURSOR_LENGTH) throw invalid();
    const dot = cursor.indexOf('.');
    if (dot <= 0) throw invalid();
    const body = cursor.slice(0, dot);
    const mac = Buffer.from(cursor.slice(dot + 1), 'base64url');
    if (mac.length !== MAC_BYTES || !timingSafeEqual(mac, this.#mac(body))) throw invalid();
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch (cause) {
      throw new InvalidCursorError('The cursor is not valid for this query.', { cause });
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid();
    for (const value of Object.values(payload)) if (typeof value !== 'string') throw invalid();
    return payload as Record<string, string>;
  }

  #mac(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest().subarray(0, MAC_BYTES);
  }
}
