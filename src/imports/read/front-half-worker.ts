import { Worker } from 'node:worker_threads';
import { ImportFileError, ImportWorkerError, type FileProblem } from '../errors.js';
import { abortable, type Batch, type BatchOptions } from './batch.js';
import type { FrontHalfOptions } from './front-half.js';
import type { CreatesEncoding } from '../../users/sqlite-batch-rows.js';
import type { Stage } from './rows.js';

/** What the worker thread is started with: FrontHalfOptions without the live parts (counters, a maxRows function). */
export type FrontHalfSettings = Omit<FrontHalfOptions, 'counters' | 'batch'> & {
  readonly batch: Omit<BatchOptions, 'maxRows'>;
  /** Rows of the first batch; later ones come with each batch taken (the main thread's TransactionSizer). */
  readonly maxRows: number;
  readonly batchesAhead: number;
  readonly encode: CreatesEncoding | undefined;
};

export interface WorkerCounters {
  bytes: number;
  read: number;
  failed: number;
}

/** Main thread → worker. */
export type ToFrontHalf =
  | { readonly type: 'chunk'; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  /** A batch was taken: one more may be posted, with at most `maxRows` rows. */
  | { readonly type: 'taken'; readonly maxRows: number };

/** Worker → main thread; each carries the front half's counters so far (progress). */
export type FromFrontHalf =
  | { readonly type: 'consumed'; readonly bytes: number; readonly counters: WorkerCounters }
  | { readonly type: 'batch'; readonly batch: Batch; readonly counters: WorkerCounters }
  | { readonly type: 'done'; readonly counters: WorkerCounters }
  | {
      readonly type: 'file-error';
      readonly problem: FileProblem;
      readonly message: string;
      readonly line: number | undefined;
      readonly counters: WorkerCounters;
    }
  | { readonly type: 'error'; readonly error: unknown; readonly counters: WorkerCounters };

export interface WorkerOptions {
  /**
   * Batches built and not yet taken. Two: one posted and waiting while the main thread writes
   * the one before, the next being built; more would only hold rows longer (memory) for no gain.
   */
  readonly batchesAhead?: number;
  /**
   * Bytes of file posted to the worker and not yet parsed. The main thread cannot post while a
   * SQLite transaction runs (it is synchronous, ~250 ms), so the worker needs a batch's worth of
   * file already in hand to keep building meanwhile: the batch byte cap (4 MiB) by default.
   */
  readonly bytesAhead?: number;
  /**
   * The writer takes its rows encoded (BatchWriter.encoding): the worker encodes each batch, last,
   * with UUIDv7 ids for users without one, and transfers its buffer. On the writing thread
   * (importBatches()) encoding would only add work, so only this stage knows of it.
   */
  readonly encode?: CreatesEncoding | undefined;
}

const THREAD = new URL('./front-half-thread.js', import.meta.url);
const DEFAULT_BATCHES_AHEAD = 2;
const DEFAULT_BYTES_AHEAD = 4 * 1024 * 1024;
/**
 * The worker's young generation, in MB. cli/heap-policy.ts keeps the main thread's at its starting
 * size through a V8 flag a worker's heap does not follow (Node sizes it from resourceLimits), so
 * the worker's grew as V8 allows: `roster import` of 1M rows into SQLite peaked at 308 MB. Bounded:
 * 8 MB, 256 MB and as fast; 3 MB, 239 MB but 9% slower and 15% more CPU, in scavenges
 * (bench/RESULTS.md, "The SQLite import's front half in a worker thread, its rows as bytes").
 */
const YOUNG_GENERATION_MB = 8;

/**
 * importBatches() (front-half.ts) run in a worker thread: the same batches, counters and errors,
 * while the thread that consumes them (writing SQLite synchronously) runs beside it on another
 * core. The file's chunks are transferred to the worker, not copied; batches come back by
 * structured cloning, except encoded rows (WorkerOptions.encode, the one way compose/imports.ts wires it),
 * whose buffer is transferred; rows as objects cost the receiving thread about what parsing them did.
 *
 * Bounded both ways (see WorkerOptions): the source is read only while less than `bytesAhead` of
 * it waits in the worker, and the worker builds only while fewer than `batchesAhead` batches wait
 * here. On abort the wait ends at once with the signal's reason; whenever the consumer stops
 * (end, error, abort, return) the worker is terminated and the source finished. A file problem is
 * the same ImportFileError as in-thread; any other failure of the worker (an exception, running
 * out of memory, an exit) is an ImportWorkerError, never a crash of this process.
 */
export function importBatchesInWorker(options: FrontHalfOptions, threadOptions: WorkerOptions = {}): Stage<Uint8Array, Batch> {
  const { counters, batch = {}, ...rest } = options;
  const { maxRows = 1000, ...batchRest } = batch;
  const rowsOf = typeof maxRows === 'number' ? () => maxRows : maxRows;
  const batchesAhead = threadOptions.batchesAhead ?? DEFAULT_BATCHES_AHEAD;
  const bytesAhead = threadOptions.bytesAhead ?? DEFAULT_BYTES_AHEAD;
  return async function* inWorker(input, { signal } = {}) {
    signal?.throwIfAborted();
    const settings: FrontHalfSettings = { ...rest, batch: batchRest, maxRows: rowsOf(), batchesAhead, encode: threadOptions.encode };
    const worker = new Worker(THREAD, { workerData: settings, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    const ready: Batch[] = [];
    let done = false;
    let failure: { error: unknown } | undefined;
    let posted = 0;
    let wake: (() => void) | undefined;
    const notify = () => {
      const current = wake;
      wake = undefined;
      current?.();
    };
    const fail = (error: unknown) => {
      failure ??= { error };
      notify();
    };
    const count = (from: WorkerCounters) => {
      if (counters === undefined) return;
      counters.bytes = from.bytes;
      counters.read = from.read;
      counters.failed = from.failed;
    };
    worker.on('message', (message: FromFrontHalf) => {
      count(message.counters);
      switch (message.type) {
        case 'consumed':
          posted -= message.bytes;
          break;
        case 'batch':
          ready.push(message.batch);
          break;
        case 'done':
          done = true;
          break;
        case 'file-error':
          fail(new ImportFileError(message.problem, message.message, message.line === undefined ? {} : { line: message.line }));
          break;
        case 'error': {
          const reason = message.error instanceof Error ? message.error.message : String(message.error);
          fail(new ImportWorkerError(`the import worker failed: ${reason}`, { cause: message.error }));
          break;
        }
      }
      notify();
    });
    worker.on('error', (error) => fail(new ImportWorkerError(`the import worker failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => {
      if (!done) fail(new ImportWorkerError(`the import worker exited (code ${code}) before the end of the file`));
    });
    const stopFeeding = new AbortController();
    const feeding = (async () => {
      for await (const bytes of abortable(input, stopFeeding.signal)) {
        while (posted >= bytesAhead && !stopFeeding.signal.aborted) await new Promise<void>((resolve) => (wake = chain(wake, resolve)));
        if (stopFeeding.signal.aborted) return;
        posted += bytes.byteLength;
        // A copy of its own, transferred: the caller's chunk may be a view into a larger pooled
        // buffer (cloning a view copies all of its buffer) or still be read by someone else.
        const owned = new Uint8Array(bytes);
        worker.postMessage({ type: 'chunk', bytes: owned } satisfies ToFrontHalf, [owned.buffer]);
      }
      worker.postMessage({ type: 'end' } satisfies ToFrontHalf);
    })().catch((error: unknown) => {
      if (!stopFeeding.signal.aborted) fail(error);
    });
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        signal?.throwIfAborted();
        // Batches completed before a failure are handed on first, as the in-thread front half does.
        const next = ready.shift();
        if (next !== undefined) {
          worker.postMessage({ type: 'taken', maxRows: Math.max(1, rowsOf()) } satisfies ToFrontHalf);
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure.error;
        if (done) return;
        await new Promise<void>((resolve) => (wake = chain(wake, resolve)));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stopFeeding.abort();
      notify();
      await worker.terminate();
      await feeding;
    }
  };
}

/** Both waits (the feeder's and the consumer's) may be pending at once: a wake-up wakes both, and each re-checks. */
function chain(current: (() => void) | undefined, next: () => void): () => void {
  return current === undefined
    ? next
    : () => {
        current();
        next();
      };
}
