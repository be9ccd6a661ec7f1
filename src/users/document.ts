import type { User, UserId } from './model.js';

/**
 * A user's parts as a store keeps them as text: the attributes and profile as JSON text (valid JSON: they
 * were checked and JSON.stringify()'d on the way in) and the times as toISOString() text.
 */
export interface StoredUserText {
  readonly attributes: string;
  readonly profile: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * Where a user read from a store that keeps text holds that text: a non-enumerable property, so
 * a user derived from it (`{ ...current, ...changes }`) never carries text that may no longer
 * describe it, and comparisons of users ignore it. Not a WeakMap: an entry per row cost more
 * than the parse it would save (~0.8 µs against ~0.15 for the property, bench notes in
 * bench/RESULTS.md).
 */
const STORED_TEXT = Symbol('users.storedText');

/**
 * Records on `user`, just read from `text`, the text it was read from: writing it to the wire
 * (userJson()) then splices that text instead of serializing the attributes and formatting the
 * times again (~1.9 → ~0.4 µs a user). The user itself stays a plain, fully read object.
 */
export function withStoredText(user: User, text: StoredUserText): User {
  Object.defineProperty(user, STORED_TEXT, { value: text });
  return user;
}

/** The fields of the wire document that every store keeps as plain values. */
export type WireScalars = Pick<User, 'id' | 'email' | 'name' | 'givenName' | 'familyName' | 'externalId' | 'active' | 'version'>;

/** A user's wire document as JSON text, with its version (the ETag's): what a read answers. */
export interface UserJson {
  readonly version: number;
  readonly json: string;
}

/** A user of a listed page as its wire document, with the id its page's cursor is made from. */
export interface ListedUserJson {
  readonly id: UserId;
  readonly json: string;
}

/**
 * How each field of the wire document (UserDocument, in the order of the User schema) is
 * written: the plain fields from the user, the rest from its text (the stored text, or the
 * user's own values serialized and formatted). A column added to users gets one row here beside
 * its line in toUserDocument(); test/users/document.unit.test.ts fails until both agree.
 */
const WIRE_FIELDS: readonly (readonly [name: string, write: (user: WireScalars, text: StoredUserText) => string])[] = [
  ['id', (u) => JSON.stringify(u.id)],
  ['email', (u) => JSON.stringify(u.email)],
  ['name', (u) => JSON.stringify(u.name)],
  ['given_name', (u) => JSON.stringify(u.givenName)],
  ['family_name', (u) => JSON.stringify(u.familyName)],
  ['external_id', (u) => JSON.stringify(u.externalId)],
  ['active', (u) => (u.active ? 'true' : 'false')],
  ['attributes', (_, t) => t.attributes],
  ['profile', (_, t) => t.profile],
  ['version', (u) => String(u.version)],
  ['created_at', (_, t) => `"${t.createdAt}"`],
  ['updated_at', (_, t) => `"${t.updatedAt}"`],
];

/** Written once: `"name":` of each field, the comma included from the second on. */
const PREFIXES = WIRE_FIELDS.map(([name], i) => `${i === 0 ? '' : ','}"${name}":`);

/** The names of the wire document's fields in order (for the test that keeps them in step with toUserDocument()). */
export const WIRE_FIELD_NAMES: readonly string[] = WIRE_FIELDS.map(([name]) => name);

function wireJson(user: WireScalars, text: StoredUserText): string {
  let json = '{';
  for (let i = 0; i < WIRE_FIELDS.length; i++) json += PREFIXES[i]! + WIRE_FIELDS[i]![1](user, text);
  return `${json}}`;
}

/**
 * JSON.stringify(toUserDocument(user)), written without building the document: a user read from
 * a store that keeps text (withStoredText()) has its attributes and times spliced in as stored,
 * not serialized and formatted again.
 */
export function userJson(user: User): string {
  const stored = (user as { [STORED_TEXT]?: StoredUserText })[STORED_TEXT];
  return wireJson(user, stored !== undefined && splices(stored) ? stored : textOf(user));
}

/**
 * The wire document of a user a store keeps as text, written from its plain fields and that
 * text without reading a User (no JSON parsed, no Date made): a GET answers so. Undefined when
 * the text is not of the shape that is spliced; the caller then reads the user and writes it.
 */
export function storedUserJson(user: WireScalars, text: StoredUserText): string | undefined {
  return splices(text) ? wireJson(user, text) : undefined;
}

function textOf(user: User): StoredUserText {
  return {
    attributes: JSON.stringify(user.attributes),
    profile: JSON.stringify(user.profile),
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

/** Stored text of the shapes JSON.stringify() and toISOString() give: other text is not spliced. */
function splices(text: StoredUserText): boolean {
  return isJsonObjectText(text.attributes) && isJsonObjectText(text.profile) && isIsoText(text.createdAt) && isIsoText(text.updatedAt);
}

/** A page of users as the list route answers it: `{"data":[…],"next_cursor":…}`. */
export function userPageJson(users: readonly User[], nextCursor: string | null): string {
  return pageJson(users, userJson, nextCursor);
}

/** The same page from documents a store wrote from its rows (UserStore.listJson(), searchJson()). */
export function listedUserPageJson(users: readonly ListedUserJson[], nextCursor: string | null): string {
  return pageJson(users, documentOf, nextCursor);
}

function documentOf(user: ListedUserJson): string {
  return user.json;
}

// One writer for both kinds of page, so they cannot drift apart byte by byte.
function pageJson<T>(users: readonly T[], write: (user: T) => string, nextCursor: string | null): string {
  let json = '{"data":[';
  for (let i = 0; i < users.length; i++) json += (i === 0 ? '' : ',') + write(users[i]!);
  return `${json}],"next_cursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`;
}

/** The shape JSON.stringify() gives an object. */
function isJsonObjectText(text: string): boolean {
  return text.length >= 2 && text.charCodeAt(0) === 0x7b && text.charCodeAt(text.length - 1) === 0x7d;
}

/** `2026-12-05T04:42:29.123Z`, Date.toISOString()'s shape for years 0000–9999. */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
function isIsoText(text: string): boolean {
  return text.length === 24 && ISO.test(text);
}
