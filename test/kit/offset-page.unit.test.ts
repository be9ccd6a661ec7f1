// kit/offset-page.ts against the obvious model (slice a sorted array, count it), for any table
// size, offset, limit and step size: the chunked walk must give exactly the page and the total.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { offsetPage, type OffsetWalk } from '../../src/kit/offset-page.js';

function walkOver(ids: readonly number[], chunk: number, statements: { count: number; largest: number }): OffsetWalk<number, number> {
  const from = (after: number | undefined) => (after === undefined ? 0 : ids.findIndex((id) => id > after));
  const rest = (after: number | undefined) => {
    const start = from(after);
    return start < 0 ? [] : ids.slice(start);
  };
  return {
    skip: async (after, n) => {
      const walked = rest(after).slice(0, n);
      statements.count++;
      statements.largest = Math.max(statements.largest, n);
      return { passed: walked.length, last: walked.at(-1) };
    },
    list: async (after, limit) => rest(after).slice(0, limit),
    idOf: (id) => id,
    chunk,
  };
}

test('the page and the total are the slice and the length, whatever the chunk', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 10_000 }), { maxLength: 120 }).map((a) => a.sort((x, y) => x - y)),
      fc.integer({ min: 0, max: 150 }),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 1, max: 40 }),
      async (ids, offset, limit, chunk) => {
        const statements = { count: 0, largest: 0 };
        const page = await offsetPage(walkOver(ids, chunk, statements), offset, limit);
        assert.deepEqual(page.items, ids.slice(offset, offset + limit));
        assert.equal(page.total, ids.length);
        assert.ok(statements.largest <= chunk, 'no step walks more than a chunk');
      },
    ),
    { numRuns: 300 },
  );
});

test('an aborted signal stops the walk between steps', async () => {
  const controller = new AbortController();
  const ids = Array.from({ length: 100 }, (_, i) => i);
  const statements = { count: 0, largest: 0 };
  const walk = walkOver(ids, 10, statements);
  const skip = walk.skip;
  const aborting: OffsetWalk<number, number> = {
    ...walk,
    skip: async (after, n) => {
      if (statements.count === 2) controller.abort(new Error('deadline'));
      return skip(after, n);
    },
  };
  await assert.rejects(offsetPage(aborting, 0, 5, controller.signal), /deadline/);
  assert.equal(statements.count, 3);
});

test('between steps the event loop turns', async () => {
  const ids = Array.from({ length: 50 }, (_, i) => i);
  const statements = { count: 0, largest: 0 };
  const walk = walkOver(ids, 1, statements);
  // setImmediate callbacks run in the check phase: count how many ran during the walk.
  let immediates = 0;
  const spin = () => {
    immediates++;
    if (immediates < 1000) setImmediate(spin);
  };
  setImmediate(spin);
  await offsetPage(walk, 0, 0);
  assert.ok(immediates >= statements.count - 1, `${immediates} turns for ${statements.count} steps`);
});
