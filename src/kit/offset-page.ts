import type { PagePositions } from './page-positions.js';

/** What one bounded step of an index walk did: how many ids it passed, and the last of them. */
export interface Skipped<Id> {
  readonly passed: number;
  readonly last: Id | undefined;
}

export interface OffsetWalk<Id, T> {
  /** Passes at most `n` ids after `after` (undefined: from the start), in id order. */
  readonly skip: (after: Id | undefined, n: number, signal?: AbortSignal) => Promise<Skipped<Id>>;
  /** At most `limit` rows after `after`, in id order. */
  readonly list: (after: Id | undefined, limit: number, signal?: AbortSignal) => Promise<T[]>;
  readonly idOf: (row: T) => Id;
  /** Ids passed per step: each step is one short statement, and the event loop turns between steps. */
  readonly chunk: number;
}

/** Where pages of one query ended, and its count (kit/page-positions.ts). */
export interface OffsetMemory<Id> {
  readonly positions: PagePositions<Id>;
  /** The query and order the positions belong to. */
  readonly scope: string;
  /** A count above this many rows is remembered (below it, counting is one short step: totals stay exact). */
  readonly rememberTotalAbove: number;
}

/**
 * A page by position (`offset` rows skipped, then `limit` rows) and the count of every row, in
 * one pass over the id index: chunked keyset steps up to the offset, the page, chunked steps to
 * the end. On SQLite each statement runs synchronously on the event loop, so no single one may
 * walk a million rows; between steps the loop turns (setImmediate) and `signal` is checked.
 *
 * With `memory`, a page that starts where a recent one ended seeks from that row's id (O(limit))
 * instead of walking to the offset, and a recent count of a large table is reused: sequential
 * pages then cost O(limit), not O(rows). Seeking by id means rows created or deleted before the
 * position since that page do not shift the next one: sequential pages show every row present
 * throughout exactly once. Without a remembered position, or with memory absent, the cost grows
 * with the table: callers document that.
 */
export async function offsetPage<Id, T>(
  walk: OffsetWalk<Id, T>,
  offset: number,
  limit: number,
  signal?: AbortSignal,
  memory?: OffsetMemory<Id>,
): Promise<{ total: number; items: T[] }> {
  let passed = 0;
  let after: Id | undefined;
  const step = async (n: number): Promise<number> => {
    signal?.throwIfAborted();
    const skipped = await walk.skip(after, n, signal);
    passed += skipped.passed;
    if (skipped.last !== undefined) after = skipped.last;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return skipped.passed;
  };
  const known = offset === 0 || memory === undefined ? undefined : memory.positions.recall(memory.scope, offset);
  if (known !== undefined) {
    passed = offset;
    after = known;
  }
  while (passed < offset) {
    const n = Math.min(walk.chunk, offset - passed);
    if ((await step(n)) < n) return { total: passed, items: [] };
  }
  signal?.throwIfAborted();
  const items = limit === 0 ? [] : await walk.list(after, limit, signal);
  passed += items.length;
  const last = items.at(-1);
  if (last !== undefined) {
    after = walk.idOf(last);
    memory?.positions.remember(memory.scope, passed, after);
  }
  if (limit === 0 || items.length === limit) {
    // A short page ended the walk, so `passed` is the count; otherwise a recent count will do,
    // unless rows were added since beyond it.
    const recent = memory?.positions.total(memory.scope);
    if (recent !== undefined && recent >= passed) return { total: recent, items };
    while ((await step(walk.chunk)) === walk.chunk);
    if (memory !== undefined && passed > memory.rememberTotalAbove) memory.positions.rememberTotal(memory.scope, passed);
  }
  return { total: passed, items };
}
