import { decodeCreates, encodeCreates, type CreatesEncoding, type EncodedCreates } from '../../users/sqlite-batch-rows.js';
import type { CheckedItem, RejectedRow, Stage, ValidRow } from './rows.js';

/** Consecutive items of the file: the unit the writer commits, with its row errors, in one go. */
export interface Batch {
  readonly firstLine: number;
  readonly lastLine: number;
  /** Empty when the rows travel as `encoded`. */
  readonly rows: readonly ValidRow[];
  readonly rejected: readonly RejectedRow[];
  /** The rows encoded for the writer (see encodeBatches()). */
  readonly encoded?: EncodedCreates;
}

/** How many valid rows the batch holds, however they travel. */
export function rowCount(batch: Batch): number {
  return batch.encoded?.count ?? batch.rows.length;
}

/** The batch with its rows as objects again (a resumed run skips part of one; rare). */
export function decodedBatch(batch: Batch): Batch {
  if (batch.encoded === undefined) return batch;
  const rows = decodeCreates(batch.encoded).map((row): ValidRow => ({ kind: 'valid', bytes: 0, ...row }));
  return { firstLine: batch.firstLine, lastLine: batch.lastLine, rows, rejected: batch.rejected };
}

/**
 * Encodes each batch's rows for a writer that takes them so (UserBatchWriter.encoding): their
 * statements' parameters in one buffer, which a worker thread transfers to the writing thread.
 */
export function encodeBatches(encoding: CreatesEncoding, newId: () => string): Stage<Batch, Batch> {
  return async function* encode(batches) {
    for await (const batch of batches) {
      const encoded = encodeCreates(batch.rows, encoding, newId, new Date());
      yield { firstLine: batch.firstLine, lastLine: batch.lastLine, rows: [], rejected: batch.rejected, encoded };
    }
  };
}

export interface BatchOptions {
  /** Items (valid and rejected) per batch at most: a number, or read anew for each batch (see TransactionSizer). */
  readonly maxRows?: number | (() => number);
  /** Bytes of file text per batch at most (a single larger row still makes a batch of one). */
  readonly maxBytes?: number;
}

export const DEFAULT_BATCH_ROWS = 1000;
export const DEFAULT_BATCH_BYTES = 1024 * 1024;
/** What a rejected row is counted as, plus its reasons: small, but not free. */
const REJECTED_ROW_BYTES = 64;

/**
 * Groups items into batches bounded by count and by bytes, so the writer's memory is bounded
 * whatever the rows hold (in JS objects a row costs several times its file bytes). On abort
 * it stops waiting for the next item at once and throws the signal's reason: the partial
 * batch is dropped, never yielded, so nothing half-built reaches the writer.
 */
export function batchRows(options: BatchOptions = {}): Stage<CheckedItem[], Batch> {
  const rowLimit = options.maxRows ?? DEFAULT_BATCH_ROWS;
  const maxBytes = options.maxBytes ?? DEFAULT_BATCH_BYTES;
  const limitOf = typeof rowLimit === 'number' ? () => rowLimit : rowLimit;
  if (!((typeof rowLimit === 'function' || rowLimit >= 1) && maxBytes >= 1))
    throw new RangeError('a batch must allow at least one row and one byte');
  return async function* batch(chunks, { signal } = {}) {
    let rows: ValidRow[] = [];
    let rejected: RejectedRow[] = [];
    let firstLine = 0;
    let lastLine = 0;
    let count = 0;
    let bytes = 0;
    let maxRows = 1;
    // Checked right before every yield, so nothing is handed on once the signal aborts.
    const take = (): Batch => {
      signal?.throwIfAborted();
      const full = { firstLine, lastLine, rows, rejected };
      rows = [];
      rejected = [];
      count = 0;
      bytes = 0;
      return full;
    };
    for await (const items of abortable(chunks, signal)) {
      for (const item of items) {
        const size = item.kind === 'valid' ? item.bytes : REJECTED_ROW_BYTES + item.errors.reduce((sum, e) => sum + e.reason.length, 0);
        if (count > 0 && bytes + size > maxBytes) yield take();
        if (count === 0) {
          firstLine = item.line;
          // Read when the batch starts, not when the last one was handed on: by then the writer has timed it.
          maxRows = Math.max(1, limitOf());
        }
        lastLine = item.line;
        if (item.kind === 'valid') rows.push(item);
        else rejected.push(item);
        count++;
        bytes += size;
        if (count >= maxRows) yield take();
      }
    }
    if (count > 0) yield take();
  };
}

/**
 * Iterates `source` until `signal` aborts, then throws its reason without waiting for the
 * pending item: a stalled upstream (a client that stopped sending) must not delay a cancel.
 * The upstream is then asked to finish, without waiting for it either.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T, void, undefined> {
  if (signal === undefined) {
    yield* source;
    return;
  }
  signal.throwIfAborted();
  const iterator = source[Symbol.asyncIterator]();
  // One listener rejects whichever wait is current. (Racing every next() against one
  // long-lived abort promise would leave a reaction on it per item: 600 MB per million.)
  let rejectWait: ((reason: unknown) => void) | undefined;
  const onAbort = () => rejectWait?.(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        rejectWait = reject;
        iterator.next().then(resolve, reject);
      });
      rejectWait = undefined;
      if (next.done === true) {
        finished = true;
        return;
      }
      signal.throwIfAborted();
      yield next.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!finished) iterator.return?.().catch(() => {});
  }
}
