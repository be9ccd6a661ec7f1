import { PROVISIONING_DEFAULTS } from '../../../src/users/model.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockedBloomFilter } from '../../../src/imports/read/bloom.js';
import { EmailSightings, dedupeEmails } from '../../../src/imports/read/dedupe.js';
import type { CheckedItem, ValidRow } from '../../../src/imports/read/rows.js';
import type { Email, UserName, Attributes } from '../../../src/users/model.js';
import { checked, flat } from '../stages.js';

const valid = (line: number, email: string): ValidRow => ({
  kind: 'valid',
  line,
  bytes: 20,
  user: { email: email as Email, name: 'N' as UserName, ...PROVISIONING_DEFAULTS, attributes: {} as Attributes },
  maybeDuplicate: false,
});

async function* of(...items: CheckedItem[][]) {
  for (const chunk of items) yield chunk;
}

describe('dedupeEmails', () => {
  test('the first row with an email wins; a later one differing only in case names the first line', async () => {
    const items = await checked('email,name\nAnn@Example.com,Ann\nbob@example.com,Bob\nann@EXAMPLE.com,Other Ann\n', 'csv', { dedupe: {} });
    assert.deepEqual(
      items.map((i) => i.kind),
      ['valid', 'valid', 'rejected'],
    );
    assert.deepEqual(items[2], {
      kind: 'rejected',
      line: 4,
      errors: [{ line: 4, field: 'email', reason: 'repeats the email of line 2 (emails are compared ignoring case)' }],
    });
  });

  test('a rejected row does not claim its email', async () => {
    const items = await checked('email,name\nann@example.com,\nann@example.com,Ann\n', 'csv', { dedupe: {} });
    assert.deepEqual(
      items.map((i) => i.kind),
      ['rejected', 'valid'],
    );
  });

  test('past the exact tier, a repeat is flagged maybe, never dropped', async () => {
    const out = await flat(
      dedupeEmails({ exactLimit: 2 })(
        of([valid(1, 'a@x.co'), valid(2, 'b@x.co'), valid(3, 'c@x.co')], [valid(4, 'C@x.co'), valid(5, 'A@x.co')]),
      ),
    );
    assert.deepEqual(
      out.map((i) => [i.line, i.kind, i.kind === 'valid' && i.maybeDuplicate]),
      [
        [1, 'valid', false],
        [2, 'valid', false],
        [3, 'valid', false],
        [4, 'valid', true],
        [5, 'rejected', false],
      ],
    );
  });

  test('property: exact rejections are real repeats; every repeat is rejected or flagged; first occurrences pass', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 300 }),
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom(512, 1024, 1 << 16),
        (keys, exactLimit, filterBits) => {
          // A tiny filter has many false positives: exactly what must never drop a row.
          const sightings = new EmailSightings({ exactLimit, filterBits, filterHashes: 3 });
          const firstLine = new Map<number, number>();
          keys.forEach((key, index) => {
            const line = index + 1;
            const sighting = sightings.see(`user${key}@example.com`, line);
            const seen = firstLine.get(key);
            if (seen === undefined) {
              firstLine.set(key, line);
              assert.ok(sighting.kind === 'first' || sighting.kind === 'maybe', `line ${line} is a first occurrence`);
              if (firstLine.size <= exactLimit) assert.equal(sighting.kind, 'first', 'within the exact tier there is no doubt');
            } else if (sighting.kind === 'duplicate') {
              assert.equal(sighting.firstLine, seen);
            } else {
              assert.equal(sighting.kind, 'maybe', `line ${line} repeats line ${seen}`);
            }
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('BlockedBloomFilter', () => {
  test('property: no false negatives', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 40 }), { maxLength: 400 }), fc.constantFrom(512, 4096, 1 << 20), (keys, bits) => {
        const filter = new BlockedBloomFilter(bits, 7);
        for (const key of keys) filter.testAndAdd(key);
        for (const key of keys) assert.equal(filter.testAndAdd(key), true, key);
      }),
      { numRuns: 200 },
    );
  });

  test('a filter sized for its keys has few false positives', () => {
    // Every key is new, so each "seen" answer is a false positive at the load of that moment.
    const filter = new BlockedBloomFilter(1 << 20, 7);
    let positives = 0;
    for (let i = 0; i < 70_000; i++) if (filter.testAndAdd(`member-${i}@example.com`)) positives++;
    // 15 bits per key at the end: measured 43 (0.06%) while filling.
    assert.ok(positives < 210, `${positives} false positives in 70,000 new keys`);
  });

  test('refuses a hash count it cannot place in one block', () => {
    assert.throws(() => new BlockedBloomFilter(1024, 0), RangeError);
    assert.throws(() => new BlockedBloomFilter(1024, 17), RangeError);
  });
});
