// Prefix search's pure parts (users/search.ts): the key order, the range of a prefix, and the
// merge of the two scans into pages, walked against an in-memory model of the stores' scans.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { User, UserId } from '../../src/users/model.js';
import {
  compareKeys,
  comparePositions,
  inRange,
  mergeSearchPage,
  prefixRange,
  type KeyedUser,
  type KeyPosition,
  type KeyRange,
  type SearchKey,
} from '../../src/users/search.js';

const utf8Order = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));

/** Text over a small alphabet, so prefixes and equal keys are common, with characters from every UTF-8 length and U+10FFFF. */
const key = fc.string({
  unit: fc.constantFrom('a', 'b', ' ', '.', 'é', '\uffff', '\ue000', '😀', '\u{10ffff}', '\u{10000}'),
  maxLength: 5,
});

describe('compareKeys', () => {
  test('property: the order of the keys’ UTF-8 bytes (SQLite BINARY, PostgreSQL "C")', () => {
    fc.assert(fc.property(key, key, (a, b) => Math.sign(compareKeys(a, b)) === utf8Order(a, b)));
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        (a, b) => Math.sign(compareKeys(a, b)) === utf8Order(a, b),
      ),
    );
  });
  test('U+FFFF comes before U+10000, unlike JavaScript’s <', () => {
    assert.ok(compareKeys('\uffff', '\u{10000}') < 0);
    assert.ok('\uffff' > '\u{10000}');
  });
});

describe('prefixRange', () => {
  test('property: a key is in the range exactly when it starts with the prefix', () => {
    fc.assert(fc.property(key, key, (prefix, rest) => inRange(prefix + rest, prefixRange(prefix))));
    fc.assert(fc.property(key, key, (prefix, k) => inRange(k, prefixRange(prefix)) === k.startsWith(prefix)));
  });
  test('raises the last code point, skipping surrogates, dropping U+10FFFF', () => {
    assert.deepEqual(prefixRange('ab'), { from: 'ab', below: 'ac' });
    assert.deepEqual(prefixRange('a\ud7ff'), { from: 'a\ud7ff', below: 'a\ue000' });
    assert.deepEqual(prefixRange('a\uffff'), { from: 'a\uffff', below: 'a\u{10000}' });
    assert.deepEqual(prefixRange('a\u{10ffff}'), { from: 'a\u{10ffff}', below: 'b' });
    assert.deepEqual(prefixRange('\u{10ffff}\u{10ffff}'), { from: '\u{10ffff}\u{10ffff}', below: undefined });
  });
});

/** The stores' scan over an in-memory table: rows with `key` in range after `after`, in (key, id) order. */
function scan(rows: readonly KeyedUser[], which: SearchKey, after: KeyPosition, range: KeyRange, limit: number): KeyedUser[] {
  const at = (r: KeyedUser): KeyPosition => ({ key: which === 'email' ? r.emailKey : r.nameKey, id: r.user.id });
  return rows
    .filter((r) => comparePositions(at(r), after) > 0 && (range.below === undefined || compareKeys(at(r).key, range.below) < 0))
    .sort((a, b) => comparePositions(at(a), at(b)))
    .slice(0, limit);
}

function walk(rows: readonly KeyedUser[], range: KeyRange, limit: number): { pages: User[][]; read: number[] } {
  const pages: User[][] = [];
  const read: number[] = [];
  let after: KeyPosition | undefined = { key: range.from, id: '' };
  while (after !== undefined) {
    const byEmail = scan(rows, 'email', after, range, limit + 1);
    const byName = scan(rows, 'name', after, range, limit + 1);
    read.push(byEmail.length + byName.length);
    const page = mergeSearchPage(range, byEmail, byName, limit);
    if (page.next !== undefined) assert.ok(comparePositions(page.next, after) > 0, 'the cursor moves forward');
    pages.push(page.users);
    after = page.next;
    assert.ok(pages.length <= rows.length * 2 + 2, 'the walk ends');
  }
  return { pages, read };
}

const table = fc.uniqueArray(fc.record({ id: fc.stringMatching(/^[0-9a-f]{3}$/), emailKey: key, nameKey: key }), {
  selector: (r) => r.id,
  maxLength: 40,
});

describe('mergeSearchPage', () => {
  test('property: a walk returns every matching user once, at its first matching position, in order, within the page size', () => {
    fc.assert(
      fc.property(table, key, fc.integer({ min: 1, max: 6 }), (raw, prefix, limit) => {
        // Emails are unique; names need not be.
        const seen = new Set<string>();
        const rows: KeyedUser[] = raw
          .filter((r) => !seen.has(r.emailKey) && seen.add(r.emailKey))
          .map((r) => ({ user: { id: r.id as UserId } as User, emailKey: r.emailKey, nameKey: r.nameKey }));
        const range = prefixRange(prefix);
        const first = (r: KeyedUser): KeyPosition => {
          const positions = [r.emailKey, r.nameKey].filter((k) => k.startsWith(prefix)).map((k) => ({ key: k, id: r.user.id }));
          return positions.sort(comparePositions)[0]!;
        };
        const expected = rows
          .filter((r) => r.emailKey.startsWith(prefix) || r.nameKey.startsWith(prefix))
          .sort((a, b) => comparePositions(first(a), first(b)))
          .map((r) => r.user.id);
        const { pages, read } = walk(rows, range, limit);
        assert.deepEqual(
          pages.flat().map((u) => u.id),
          expected,
        );
        assert.ok(pages.every((p) => p.length <= limit));
        assert.ok(read.every((n) => n <= 2 * (limit + 1)));
      }),
      { numRuns: 500 },
    );
  });

  test('a page can hold fewer users than the limit while more follow: users whose other key came first', () => {
    const user = (id: string, emailKey: string, nameKey: string): KeyedUser => ({ user: { id: id as UserId } as User, emailKey, nameKey });
    // Both keys match for every user; the names sort first, so each email position is a repeat.
    const rows = ['1', '2', '3', '4'].map((i) => user(`00${i}`, `a${i}@x`, `a 0${i}`));
    const range = prefixRange('a');
    const byEmail = scan(rows, 'email', { key: 'a', id: '' }, range, 3);
    const byName = scan(rows, 'name', { key: 'a', id: '' }, range, 3);
    const page = mergeSearchPage(range, byEmail, byName, 2);
    assert.deepEqual(
      page.users.map((u) => u.id),
      ['001', '002'],
    );
    assert.deepEqual(page.next, { key: 'a 02', id: '002' });
    const { pages } = walk(rows, range, 2);
    assert.deepEqual(
      pages.map((p) => p.map((u) => u.id)),
      [['001', '002'], ['003', '004'], []],
      'the last page is empty: the email positions after the names were all repeats',
    );
  });
});
