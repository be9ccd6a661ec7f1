/**
 * Runs `step` (which removes at most `batchSize` items and says how many it removed) until a
 * step removes fewer than `batchSize` or `signal` aborts; returns how many went in all. Bounded
 * batches keep each statement's locks and undo short, however much is due.
 */
export async function inBatches(batchSize: number, step: (limit: number) => Promise<number>, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (let n = batchSize; n === batchSize && !signal?.aborted;) {
    n = await step(batchSize);
    total += n;
  }
  return total;
}
