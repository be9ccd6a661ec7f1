import { PROVISIONING_DEFAULTS } from '../../../src/users/model.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batchRows } from '../../../src/imports/read/batch.js';
import type { CheckedItem, ValidRow } from '../../../src/imports/read/rows.js';
import { TransactionSizer } from '../../../src/imports/write/transaction-size.js';
import type { Attributes, Email, UserName } from '../../../src/users/model.js';
import { collect } from '../stages.js';

const budget = { targetMs: 250, initialRows: 2_000, minRows: 500, maxRows: 50_000 };

describe('TransactionSizer', () => {
  test('starts at the initial size and moves towards the rows that fit the time budget', () => {
    const sizer = new TransactionSizer(budget);
    assert.equal(sizer.rows, 2_000);
    // 2,000 rows in 20 ms: 0.01 ms a row, so 25,000 rows fit in 250 ms.
    sizer.observe(2_000, 20);
    assert.equal(sizer.rows, 25_000);
    // The database grew and rows got five times dearer: the size follows, smoothed.
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      sizer.observe(sizer.rows, sizer.rows * 0.05);
      sizes.push(sizer.rows);
    }
    assert.ok(sizes[0]! > 5_000 && sizes[0]! < 25_000, `one slow batch moves the size part of the way: ${sizes[0]}`);
    assert.ok(Math.abs(sizes.at(-1)! - 5_000) <= 50, `settles at the budget: ${sizes.at(-1)}`);
  });

  test('stays within its bounds whatever it measures', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -5, max: 100_000 }), fc.double({ min: -1, max: 1e7, noNaN: false }))),
        (observations) => {
          const sizer = new TransactionSizer(budget);
          for (const [rows, ms] of observations) {
            sizer.observe(rows, ms);
            assert.ok(Number.isInteger(sizer.rows) && sizer.rows >= budget.minRows && sizer.rows <= budget.maxRows, `${sizer.rows}`);
          }
        },
      ),
    );
  });

  test('refuses a budget it cannot keep', () => {
    assert.throws(() => new TransactionSizer({ ...budget, minRows: 0 }), RangeError);
    assert.throws(() => new TransactionSizer({ ...budget, initialRows: 60_000 }), RangeError);
    assert.throws(() => new TransactionSizer({ ...budget, targetMs: 0 }), RangeError);
  });
});

describe('batchRows with a row limit read per batch', () => {
  const valid = (line: number): ValidRow => ({
    kind: 'valid',
    line,
    bytes: 10,
    user: { email: `u${line}@example.com` as Email, name: 'N' as UserName, ...PROVISIONING_DEFAULTS, attributes: {} as Attributes },
    maybeDuplicate: false,
  });

  test('each batch takes the limit current when it starts, after the previous batch was consumed', async () => {
    const limits = [2, 3, 1, 4];
    let current = 0;
    async function* items(): AsyncGenerator<CheckedItem[]> {
      yield Array.from({ length: 10 }, (_, i) => valid(i + 1));
    }
    const sizes: number[] = [];
    for await (const batch of batchRows({ maxRows: () => limits[current]! })(items())) {
      sizes.push(batch.rows.length);
      current = Math.min(current + 1, limits.length - 1);
    }
    assert.deepEqual(sizes, [2, 3, 1, 4]);
    let limit = 5;
    const shrinking = () => {
      const now = limit;
      limit = 0;
      return now;
    };
    assert.deepEqual(
      (await collect(batchRows({ maxRows: shrinking })(items()))).map((b) => b.rows.length),
      [5, 1, 1, 1, 1, 1],
      'a limit that drops below one still makes progress, one row at a time',
    );
  });
});
