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

/**
 * A page by position (`offset` rows skipped, then `limit` rows) and the count of every row, in
 * one pass over the id index: chunked keyset steps up to the offset, the page, chunked steps to
 * the end. On SQLite each statement runs synchronously on the event loop, so no single one may
 * walk a million rows; between steps the loop turns (setImmediate) and `signal` is checked.
 * The cost grows with the table, not the page: callers document that.
 */
export async function offsetPage<Id, T>(
  walk: OffsetWalk<Id, T>,
  offset: number,
  limit: number,
  signal?: AbortSignal,
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
  while (passed < offset) {
    const n = Math.min(walk.chunk, offset - passed);
    if ((await step(n)) < n) return { total: passed, items: [] };
  }
  const items = limit === 0 ? [] : await walk.list(after, limit, signal);
  passed += items.length;
  const last = items.at(-1);
  if (last !== undefined) after = walk.idOf(last);
  if (limit === 0 || items.length === limit) while ((await step(walk.chunk)) === walk.chunk);
  return { total: passed, items };
}
