import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inBatches } from '../../src/kit/batches.js';

/** A step over `due` items that removes up to `limit` a call and records each limit it was given. */
function queue(due: number) {
  const limits: number[] = [];
  let left = due;
  return {
    limits,
    step: async (limit: number) => {
      limits.push(limit);
      const n = Math.min(limit, left);
      left -= n;
      return n;
    },
  };
}

describe('inBatches', () => {
  test('steps until a batch comes back short, and sums what went', async () => {
    const q = queue(7);
    assert.equal(await inBatches(3, q.step), 7);
    assert.deepEqual(q.limits, [3, 3, 3]);
  });

  test('an exact multiple takes one more, empty, step', async () => {
    const q = queue(6);
    assert.equal(await inBatches(3, q.step), 6);
    assert.deepEqual(q.limits, [3, 3, 3]);
  });

  test('nothing due: one step', async () => {
    const q = queue(0);
    assert.equal(await inBatches(3, q.step), 0);
    assert.deepEqual(q.limits, [3]);
  });

  test('stops between steps once the signal aborts', async () => {
    const controller = new AbortController();
    let steps = 0;
    const total = await inBatches(
      2,
      async () => {
        steps++;
        if (steps === 2) controller.abort();
        return 2;
      },
      controller.signal,
    );
    assert.equal(steps, 2);
    assert.equal(total, 4);
  });

  test('an aborted signal takes no step at all', async () => {
    const q = queue(5);
    assert.equal(await inBatches(2, q.step, AbortSignal.abort()), 0);
    assert.deepEqual(q.limits, []);
  });
});
