import { PROVISIONING_DEFAULTS } from '../../src/users/model.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { caseFold } from '../../src/kit/case-fold.js';
import { CASE_FOLDING_17_0_0 } from '../../src/kit/unicode/case-folding-17.0.0.js';
import { foldKey } from '../../src/users/model.js';
import { dedupeEmails } from '../../src/imports/read/dedupe.js';
import type { CheckedItem } from '../../src/imports/read/rows.js';
import type { Attributes, Email, UserName } from '../../src/users/model.js';
import { sameFoldEmails, sameFoldPieces } from './fold-variants.js';

describe('foldKey', () => {
  for (const [a, b] of [
    ['cafe\u0301', 'CAFÉ'],
    ['Straße', 'STRASSE'],
    ['ẞ', 'ss'],
    ['İZMIR', 'izmir'],
    ['i\u0307', 'I'],
    ['ΌΣΟΣ', 'όσοσ'],
    ['\u212Aelvin', 'kelvin'],
    ['ſtraße', 'STRASSE'],
    ['ﬁsh', 'FISH'],
    ['ǰ', 'J\u030C'],
  ] as const) {
    test(`${JSON.stringify(a)} and ${JSON.stringify(b)} have one key`, () => assert.equal(foldKey(a), foldKey(b)));
  }
  test('keeps apart what full folding keeps apart: dotless ı (no Turkic mappings), e and é', () => {
    assert.notEqual(foldKey('ıspanak'), foldKey('ISPANAK'));
    assert.notEqual(foldKey('cafe'), foldKey('café'));
  });
  test('the generated table agrees with the engine’s own simple case folding (RegExp /ui) on every one-to-one mapping', () => {
    let checked = 0;
    for (const entry of CASE_FOLDING_17_0_0.split(' ')) {
      const [from, to] = entry.split(':') as [string, string];
      if (to.includes('.')) continue;
      const pattern = new RegExp(`^\\u{${from}}$`, 'ui');
      assert.ok(pattern.test(String.fromCodePoint(parseInt(to, 16))), entry);
      checked++;
    }
    assert.ok(checked > 1400);
  });
  test('property: idempotent, NFC, and the ASCII short path is the general path', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), (text) => {
        const key = foldKey(text);
        assert.equal(foldKey(key), key);
        assert.equal(key, key.normalize('NFC'));
        if (/^[\x20-\x7e]*$/.test(text)) assert.equal(key, caseFold(text));
      }),
      { numRuns: 2000 },
    );
  });
  test('property: texts made of the same fold classes have one key, and so do their prefixes cut between pieces', () => {
    fc.assert(
      fc.property(sameFoldPieces(), fc.nat(), ([a, b], cut) => {
        assert.equal(foldKey(a.join('')), foldKey(b.join('')));
        const n = cut % (a.length + 1);
        assert.ok(foldKey(a.join('')).startsWith(foldKey(b.slice(0, n).join(''))));
      }),
      { numRuns: 2000 },
    );
  });
  test('property: import dedupe takes emails of one fold for one email', async () => {
    await fc.assert(
      fc.asyncProperty(sameFoldEmails(), async ({ a, b }) => {
        const row = (line: number, email: string): CheckedItem => ({
          kind: 'valid',
          line,
          bytes: 10,
          user: { email: email as Email, name: 'N' as UserName, ...PROVISIONING_DEFAULTS, attributes: {} as Attributes },
          maybeDuplicate: false,
        });
        const out: CheckedItem[] = [];
        for await (const items of dedupeEmails({ filterBits: 1024 })(
          (async function* () {
            yield [row(2, a), row(3, b)];
          })(),
        )) {
          out.push(...items);
        }
        assert.deepEqual(
          out.map((i) => i.kind),
          ['valid', 'rejected'],
        );
      }),
      { numRuns: 200 },
    );
  });
});
