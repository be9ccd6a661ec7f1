import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RetryBudget } from '../../src/webhooks/retry-budget.js';

describe('RetryBudget', () => {
  test('a quiet system may always retry up to the floor', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 2, windowMs: 10_000 });
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (budget.tryRetry(1_000)) allowed++;
    assert.equal(allowed, 20, '2 per second over a 10 s window');
  });

  test('during an outage retries stay near the ratio of all attempts; the window slides', () => {
    const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0, windowMs: 1_000 });
    for (let i = 0; i < 1000; i++) budget.recordFirstAttempt(500);
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (budget.tryRetry(500)) allowed++;
    assert.ok(allowed >= 100 && allowed <= 112, `allowed ${allowed}`);
    // A window later the old attempts no longer count: with no first attempts, no retry fits.
    assert.equal(budget.tryRetry(2_600), false);
  });

  test('property: within one window, retries never exceed max(ratio × attempts, floor)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 500 }), fc.double({ min: 0, max: 1, noNaN: true }), (ops, ratio) => {
        const budget = new RetryBudget({ ratio, minPerSecond: 1, windowMs: 1_000 });
        let attempts = 0;
        let retries = 0;
        for (const retry of ops) {
          if (retry) {
            if (budget.tryRetry(0)) {
              retries++;
              attempts++;
            }
          } else {
            budget.recordFirstAttempt(0);
            attempts++;
          }
          assert.ok(retries <= Math.max(ratio * attempts, 1) + 1e-9, `${retries} retries of ${attempts}`);
        }
      }),
    );
  });

  test('refuses nonsense settings', () => {
    assert.throws(() => new RetryBudget({ ratio: 2 }), RangeError);
    assert.throws(() => new RetryBudget({ windowMs: 0 }), RangeError);
  });
});
