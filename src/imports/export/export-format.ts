import type { User } from '../../users/model.js';
import { csvRecord } from '../read/csv-cells.js';
import { IMPORT_FIELDS } from '../read/rows.js';
import type { Stage } from '../read/rows.js';

export type ExportFormat = 'csv' | 'ndjson';
/** What an export writes of a user: exactly what an import reads back. */
export type ExportedUser = Pick<User, 'id' | 'email' | 'name' | 'attributes'>;

export interface ExportOptions {
  /** Text is handed on in pieces of about this many characters, not one per user. */
  readonly chunkChars?: number;
}

export const DEFAULT_EXPORT_CHUNK_CHARS = 64 * 1024;

/**
 * Users → CSV (a header `id,email,name,attributes`, attributes as JSON, CRLF records per RFC
 * 4180, formula-like cells escaped as csv-cells.ts explains) or NDJSON (one object per line,
 * the same four keys). Output is gathered into pieces of about `chunkChars` characters, since a
 * yield per user costs more than formatting it; each piece waits for the consumer
 * (backpressure), so memory holds one piece whatever the number of users.
 */
export function formatUsers(format: ExportFormat, options: ExportOptions = {}): Stage<ExportedUser, string> {
  const chunkChars = options.chunkChars ?? DEFAULT_EXPORT_CHUNK_CHARS;
  const line = format === 'csv' ? userToCsv : userToNdjson;
  return async function* exportUsers(users, { signal } = {}) {
    let text = format === 'csv' ? csvRecord(IMPORT_FIELDS) : '';
    for await (const user of users) {
      text += line(user);
      if (text.length >= chunkChars) {
        signal?.throwIfAborted();
        yield text;
        text = '';
      }
    }
    signal?.throwIfAborted();
    if (text !== '') yield text;
  };
}

export function userToCsv(user: ExportedUser): string {
  return csvRecord([user.id, user.email, user.name, JSON.stringify(user.attributes)]);
}

export function userToNdjson(user: ExportedUser): string {
  return `${JSON.stringify({ id: user.id, email: user.email, name: user.name, attributes: user.attributes })}\n`;
}
