import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffCapMs, fullJitterMs } from '../../src/kit/backoff.js';

const policy = { baseMs: 100, maxMs: 5_000 };

describe('backoffCapMs', () => {
  test('doubles from the base with each attempt, up to the maximum', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 50, 5_000].map((n) => backoffCapMs(n, policy)),
      [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000],
    );
  });

  test('an attempt below 1 or fractional counts as its floor, at least 1', () => {
    assert.equal(backoffCapMs(0, policy), 100);
    assert.equal(backoffCapMs(-3, policy), 100);
    assert.equal(backoffCapMs(2.9, policy), 200);
  });
});

describe('fullJitterMs', () => {
  test('spans the whole [0, cap) range', () => {
    assert.equal(
      fullJitterMs(3, policy, () => 0),
      0,
    );
    assert.equal(
      fullJitterMs(3, policy, () => 0.5),
      200,
    );
    assert.equal(
      fullJitterMs(3, policy, () => 0.999999),
      399,
    );
  });

  test('a misbehaving random source is clamped into range', () => {
    for (const r of [-1, 1, 2, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const delay = fullJitterMs(4, policy, () => r);
      assert.ok(delay >= 0 && delay < backoffCapMs(4, policy), `${r} → ${delay}`);
    }
  });

  test('property: waits lie in [0, min(max, base·2^(attempt-1)))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, baseMs, maxMs, r) => {
          const delay = fullJitterMs(attempt, { baseMs, maxMs }, () => r);
          assert.ok(delay >= 0 && delay < Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
        },
      ),
    );
  });
});
