// sqliteDialect.toTime() remembers the last instant it converted (the import stamps a whole
// batch with one): whatever the sequence of dates, each gets its own instant's text, and an
// invalid date still throws rather than repeating the last text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sqliteDialect } from '../../src/db/dialect.js';

test('toTime gives every date its own ISO text, repeated or not', () => {
  const instant = fc.integer({ min: -8.64e15, max: 8.64e15 });
  fc.assert(
    fc.property(fc.array(fc.oneof(instant, fc.constant(0), fc.constant(1)), { minLength: 1, maxLength: 20 }), (times) => {
      for (const time of times) assert.equal(sqliteDialect.toTime(new Date(time)), new Date(time).toISOString());
    }),
  );
});

test('toTime throws for an invalid date, even right after a valid one', () => {
  assert.equal(sqliteDialect.toTime(new Date(0)), '1970-01-01T00:00:00.000Z');
  assert.throws(() => sqliteDialect.toTime(new Date(Number.NaN)), RangeError);
  assert.throws(() => sqliteDialect.toTime(new Date(Number.NaN)), RangeError);
});
