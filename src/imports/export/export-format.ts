import type { User } from '../../users/model.js';
import { csvRecord } from '../read/csv-cells.js';
import { IMPORT_FIELDS } from '../read/rows.js';
import type { Stage } from '../read/rows.js';

export type ExportFormat = 'csv' | 'ndjson';
/** What an export writes of a user: exactly what an import reads back. */
export type ExportedUser = Pick<
  User,
  'id' | 'email' | 'name' | 'givenName' | 'familyName' | 'externalId' | 'active' | 'attributes' | 'profile'
>;

export interface ExportOptions {
  /** Text is handed on in pieces of about this many characters, not one per user. */
  readonly chunkChars?: number;
}

export const DEFAULT_EXPORT_CHUNK_CHARS = 64 * 1024;

/**
 * Users → CSV (a header of IMPORT_FIELDS, `id,email,name,given_name,family_name,external_id,
 * active,attributes,profile`; attributes and profile as JSON, active as true/false, a missing
 * name part or external id as an empty cell; CRLF records per RFC 4180, formula-like cells
 * escaped as csv-cells.ts explains) or NDJSON (one object per line, the same keys, null for none). Output is gathered into pieces of about `chunkChars` characters, since a
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
  return csvRecord([
    user.id,
    user.email,
    user.name,
    user.givenName ?? '',
    user.familyName ?? '',
    user.externalId ?? '',
    user.active ? 'true' : 'false',
    JSON.stringify(user.attributes),
    JSON.stringify(user.profile),
  ]);
}

export function userToNdjson(user: ExportedUser): string {
  const line = {
    id: user.id,
    email: user.email,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    external_id: user.externalId,
    active: user.active,
    attributes: user.attributes,
    profile: user.profile,
  };
  return `${JSON.stringify(line)}\n`;
}
