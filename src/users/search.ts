import type { User } from './model.js';

/**
 * Prefix search (`?q=`) as two bounded index range scans, one over `email_key` and one over
 * `name_key`, merged here. Results are in key order: each user sits at the position
 * (key, id) of the key that matched, and a user whose email and name both match sits only at
 * the smaller of the two positions (the email's on a tie). A page reads at most limit + 1 rows
 * from each scan, whatever the prefix, so no search walks the table.
 *
 * Keys compare in Unicode code point order, which is the byte order of their UTF-8 text: SQLite's
 * BINARY collation and PostgreSQL's "C" collation and text_pattern_ops operators, whatever the
 * database's own collation. A range is [from, below), so an index serves it on both databases
 * where LIKE is served by neither on SQLite (its LIKE ignores ASCII case, so no BINARY index fits).
 */

/** A point in a key's order: the key, then the user id among users with the same key. */
export interface KeyPosition {
  readonly key: string;
  readonly id: string;
}

/** The keys that start with a prefix: from the prefix itself up to, not including, `below` (none: no upper end). */
export interface KeyRange {
  readonly from: string;
  readonly below: string | undefined;
}

/** Which of a user's keys a scan walks. */
export type SearchKey = 'email' | 'name';

/**
 * A user as a scan reads it, with the keys it is found by, as stored (they are foldKey() of its
 * email and name). The user is whatever the caller reads a row as: a User, or only its id and
 * wire document (users/document.ts ListedUserJson); the merge needs only its id.
 */
export interface Keyed<U extends { readonly id: string } = User> {
  readonly user: U;
  readonly emailKey: string;
  readonly nameKey: string;
}

/** A scan's row read as a User. */
export type KeyedUser = Keyed<User>;

/**
 * The range of keys starting with `prefix`: `below` is the prefix with its last code point
 * raised by one (code points that cannot be raised, U+10FFFF, are dropped first). Every key
 * between the two starts with the prefix, and every key that starts with it lies between them.
 */
export function prefixRange(prefix: string): KeyRange {
  const codePoints = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!;
    if (last < 0x10ffff) {
      // The next code point; surrogates are not characters, so U+D7FF is followed by U+E000.
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1);
      return { from: prefix, below: String.fromCodePoint(...codePoints) };
    }
  }
  return { from: prefix, below: undefined };
}

/** Whether `key` lies in `range`. */
export function inRange(key: string, range: KeyRange): boolean {
  return compareKeys(key, range.from) >= 0 && (range.below === undefined || compareKeys(key, range.below) < 0);
}

/**
 * Code point order (= UTF-8 byte order). JavaScript's `<` compares UTF-16 code units, which puts
 * U+E000–U+FFFF after the surrogate pairs of U+10000 and above: those two ranges swap here.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

export function comparePositions(a: KeyPosition, b: KeyPosition): number {
  return compareKeys(a.key, b.key) || compareKeys(a.id, b.id);
}

export interface SearchPage<U = User> {
  readonly users: U[];
  /** Where the next page starts (after this position), or undefined when nothing is left. */
  readonly next: KeyPosition | undefined;
}

/**
 * One page from the two scans, each read from the same position with LIMIT `limit` + 1.
 *
 * A scan that returned limit + 1 rows is complete only up to its limit-th row (its last row
 * proves it goes on); one that returned fewer is complete. So positions are taken, in order, up
 * to the smallest limit-th position of a scan that goes on (the horizon), and each user is
 * emitted at its smaller matching position. The page ends at the limit-th user, or at the
 * horizon: a page can then hold fewer than `limit` users (those whose other key came earlier)
 * while `next` is set. It always moves past at least `limit` positions, so a walk ends.
 */
export function mergeSearchPage<U extends { readonly id: string }>(
  range: KeyRange,
  byEmail: readonly Keyed<U>[],
  byName: readonly Keyed<U>[],
  limit: number,
): SearchPage<U> {
  interface Hit {
    readonly position: KeyPosition;
    readonly user: U;
    /** False when the user's other key matches at an earlier position, where it is emitted instead. */
    readonly emitted: boolean;
  }
  const hits: Hit[] = [];
  for (const row of byEmail) {
    const nameFirst = inRange(row.nameKey, range) && compareKeys(row.nameKey, row.emailKey) < 0;
    hits.push({ position: { key: row.emailKey, id: row.user.id }, user: row.user, emitted: !nameFirst });
  }
  for (const row of byName) {
    const emailFirst = inRange(row.emailKey, range) && compareKeys(row.emailKey, row.nameKey) <= 0;
    hits.push({ position: { key: row.nameKey, id: row.user.id }, user: row.user, emitted: !emailFirst });
  }
  let horizon: KeyPosition | undefined;
  for (const [rows, key] of [
    [byEmail, 'emailKey'],
    [byName, 'nameKey'],
  ] as const) {
    if (rows.length <= limit) continue;
    const edge = rows[limit - 1]!;
    const position = { key: edge[key], id: edge.user.id };
    if (horizon === undefined || comparePositions(position, horizon) < 0) horizon = position;
  }
  const known = hits
    .filter((hit) => horizon === undefined || comparePositions(hit.position, horizon) <= 0)
    .sort((a, b) => comparePositions(a.position, b.position));
  const users: U[] = [];
  let last: KeyPosition | undefined;
  for (const hit of known) {
    if (!hit.emitted) continue;
    // One more user is known: the page ends at the last one it holds.
    if (users.length === limit) return { users, next: last };
    users.push(hit.user);
    last = hit.position;
  }
  return { users, next: horizon };
}
