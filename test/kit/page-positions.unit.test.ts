import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { offsetPage, type OffsetWalk } from '../../src/kit/offset-page.js';
import { PagePositions } from '../../src/kit/page-positions.js';

/** Sorted numeric ids in memory, walked as the stores walk theirs; counts the ids each call passes. */
function walkOver(rows: number[]): { walk: OffsetWalk<number, number>; cost: { passed: number } } {
  const cost = { passed: 0 };
  const from = (after: number | undefined) => rows.filter((r) => after === undefined || r > after);
  return {
    cost,
    walk: {
      skip: async (after, n) => {
        const passed = from(after).slice(0, n);
        cost.passed += passed.length;
        return { passed: passed.length, last: passed.at(-1) };
      },
      list: async (after, limit) => {
        const page = from(after).slice(0, limit);
        cost.passed += page.length;
        return page;
      },
      idOf: (row) => row,
      chunk: 10,
    },
  };
}

const positions = (now = () => 0, maxEntries = 100) => new PagePositions<number>({ maxEntries, ttlMs: 1_000, totalTtlMs: 100, now });
const range = (n: number) => Array.from({ length: n }, (_, i) => (i + 1) * 10);

describe('PagePositions', () => {
  test('bounded: the least recently used position goes first', () => {
    const p = positions(undefined, 3);
    for (const offset of [1, 2, 3]) p.remember('s', offset, offset * 100);
    assert.equal(p.recall('s', 1), 100, 'a hit makes 1 the most recently used');
    p.remember('s', 4, 400);
    assert.equal(p.size, 3);
    assert.equal(p.recall('s', 2), undefined, '2 was the least recently used');
    assert.deepEqual([p.recall('s', 1), p.recall('s', 3), p.recall('s', 4)], [100, 300, 400]);
    assert.equal(p.recall('other', 1), undefined, 'scopes are apart');
  });

  test('positions and totals expire', () => {
    let now = 0;
    const p = positions(() => now);
    p.remember('s', 5, 50);
    p.rememberTotal('s', 7);
    now = 99;
    assert.deepEqual([p.recall('s', 5), p.total('s')], [50, 7]);
    now = 100;
    assert.equal(p.total('s'), undefined);
    now = 1_000;
    assert.equal(p.recall('s', 5), undefined);
    assert.equal(p.size, 0, 'an expired position is dropped when found');
  });
});

describe('offsetPage with remembered positions', () => {
  test('the page after a page seeks from its last id; a miss walks and gives the same page', async () => {
    const rows = range(100);
    const memory = { positions: positions(), scope: 's', rememberTotalAbove: 1_000 };
    const first = walkOver(rows);
    assert.deepEqual(await offsetPage(first.walk, 0, 20, undefined, memory), { total: 100, items: rows.slice(0, 20) });
    const next = walkOver(rows);
    const page = await offsetPage(next.walk, 20, 20, undefined, memory);
    assert.deepEqual(page, { total: 100, items: rows.slice(20, 40) });
    const miss = walkOver(rows);
    assert.deepEqual(await offsetPage(miss.walk, 20, 20, undefined), page, 'without memory: the same page');
    assert.ok(next.cost.passed < miss.cost.passed, `seeking (${next.cost.passed}) passes fewer ids than walking (${miss.cost.passed})`);
    const elsewhere = await offsetPage(walkOver(rows).walk, 33, 5, undefined, memory);
    assert.deepEqual(elsewhere, { total: 100, items: rows.slice(33, 38) }, 'an offset no page ended at is walked to');
  });

  test('a large count is reused until it expires; a small one is always exact', async () => {
    let now = 0;
    const memory = { positions: positions(() => now), scope: 's', rememberTotalAbove: 50 };
    const rows = range(60);
    assert.equal((await offsetPage(walkOver(rows).walk, 0, 10, undefined, memory)).total, 60);
    rows.pop();
    const reused = walkOver(rows);
    assert.equal((await offsetPage(reused.walk, 10, 10, undefined, memory)).total, 60, 'within totalTtlMs: the count may lag');
    assert.equal(reused.cost.passed, 10, 'only the page was read');
    now = 100;
    assert.equal((await offsetPage(walkOver(rows).walk, 20, 10, undefined, memory)).total, 59, 'expired: counted again');
    const small = { positions: positions(), scope: 's', rememberTotalAbove: 1_000 };
    await offsetPage(walkOver(rows).walk, 0, 10, undefined, small);
    rows.pop();
    assert.equal((await offsetPage(walkOver(rows).walk, 10, 10, undefined, small)).total, 58);
  });

  test('sequential pages while rows are created (after the last) and deleted: every row present throughout, exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 80 }),
        fc.integer({ min: 1, max: 15 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.boolean()), { maxLength: 20 }),
        async (n, count, changes) => {
          let rows = range(n);
          let nextId = (n + 1) * 10;
          const memory = { positions: positions(), scope: 's', rememberTotalAbove: 1_000 };
          const throughout = new Set(rows);
          const seen: number[] = [];
          for (let offset = 0, i = 0; ; offset += count, i++) {
            const { items } = await offsetPage(walkOver(rows).walk, offset, count, undefined, memory);
            seen.push(...items);
            if (items.length < count) break;
            // Changes between the first pages only, so the walk ends.
            const [pick, deletions, create] = changes[i] ?? [0, 0, false];
            for (let d = 0; d < deletions && rows.length > 0; d++) {
              const gone = rows[(pick + d) % rows.length]!;
              rows = rows.filter((r) => r !== gone);
              throughout.delete(gone);
            }
            if (create) rows.push(nextId++);
          }
          assert.equal(new Set(seen).size, seen.length, 'no row twice');
          for (const row of throughout) assert.ok(seen.includes(row), `row ${row} was missed`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
