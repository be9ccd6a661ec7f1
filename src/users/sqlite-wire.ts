import { WIRE_FIELD_NAMES } from './document.js';

/**
 * The expression of each wire field over a `users` row: what document.ts's wireJson() writes from
 * the row's values. json_quote() escapes text as JSON.stringify() does (checked for every
 * character of the Basic Multilingual Plane and a sample above it, test/users/sqlite-wire.integration.test.ts);
 * the JSON text and the times are spliced as stored.
 */
const FIELD_SQL: Readonly<Record<string, string>> = {
  id: 'json_quote(id)',
  email: 'json_quote(email)',
  name: 'json_quote(name)',
  given_name: 'json_quote(given_name)',
  family_name: 'json_quote(family_name)',
  external_id: 'json_quote(external_id)',
  active: "iif(active, 'true', 'false')",
  attributes: 'attributes',
  profile: 'profile',
  version: 'version',
  created_at: `'"' || created_at || '"'`,
  updated_at: `'"' || updated_at || '"'`,
};

/** Written in WIRE_FIELD_NAMES's order: a field added there and not here fails at start-up. */
const DOCUMENT = WIRE_FIELD_NAMES.map((name, i) => {
  const sql = FIELD_SQL[name];
  if (sql === undefined) throw new Error(`users/sqlite-wire.ts: no SQL writes the wire field ${name}`);
  return `'${i === 0 ? '{' : ','}"${name}":' || ${sql}`;
}).join(' || ');

/** toISOString()'s shape for years 0000–9999 (document.ts isIsoText()), as a GLOB. */
const ISO_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'";
const isObjectText = (column: string) => `length(${column}) >= 2 and substr(${column}, 1, 1) = '{' and substr(${column}, -1, 1) = '}'`;
const isIsoText = (column: string) => `length(${column}) = 24 and ${column} glob ${ISO_GLOB}`;

/**
 * A user's wire document, written by SQLite from the row: the document storedUserJson() writes
 * from the same row, or NULL where that would not splice the stored text (document.ts
 * splices()), and the caller then reads the row and writes it in JavaScript. A GET by id so gets
 * two values from the driver instead of twelve strings it would join, and a page of 50 users 100
 * values instead of 600.
 */
const SQLITE_USER_JSON = `case when ${isObjectText('attributes')} and ${isObjectText('profile')} and ${isIsoText(
  'created_at',
)} and ${isIsoText('updated_at')} then ${DOCUMENT} || '}' end`;

/** The columns of a GET by id: the version (the ETag's) and SQLITE_USER_JSON. */
export const SQLITE_USER_JSON_COLUMNS = `version, ${SQLITE_USER_JSON} as json`;

/** The columns of a listed page's row (UserStore.listJson()): the id (the cursor's) and SQLITE_USER_JSON. */
export const SQLITE_LISTED_USER_COLUMNS = `id, ${SQLITE_USER_JSON} as json`;
