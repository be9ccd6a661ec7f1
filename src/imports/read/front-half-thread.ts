import { parentPort, workerData } from 'node:worker_threads';
import { ImportFileError } from '../errors.js';
import { encodeBatches, type Batch } from './batch.js';
import { newUuidV7 } from '../../kit/uuid.js';
import { importBatches } from './front-half.js';
import type { FromFrontHalf, FrontHalfSettings, ToFrontHalf, WorkerCounters } from './front-half-worker.js';

// The worker thread of importBatchesInWorker(): the front half of an import (front-half.ts) over
// the chunks the main thread posts, its batches posted back. Credit both ways keeps it bounded:
// the main thread posts at most `bytesAhead` of file the worker has not consumed, and the worker
// posts at most `batchesAhead` batches the main thread has not taken.

const port = parentPort;
if (port === null) throw new Error('front-half-thread.js runs as a worker thread only');
const settings = workerData as FrontHalfSettings;

const counters: WorkerCounters = { bytes: 0, read: 0, failed: 0 };
const chunks: Uint8Array[] = [];
let ended = false;
let maxRows = settings.maxRows;
let untaken = 0;
/** Wakes whichever wait is current (input or credit); one at a time, since the loop below is sequential. */
let wake: (() => void) | undefined;

const post = (message: FromFrontHalf, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const woken = () => new Promise<void>((resolve) => (wake = resolve));

port.on('message', (message: ToFrontHalf) => {
  if (message.type === 'chunk') chunks.push(message.bytes);
  else if (message.type === 'end') ended = true;
  else {
    untaken--;
    maxRows = message.maxRows;
  }
  const current = wake;
  wake = undefined;
  current?.();
});

async function* input(): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    const chunk = chunks.shift();
    if (chunk !== undefined) {
      yield chunk;
      // Asked for the next one: this one is parsed, its credit goes back to the main thread.
      post({ type: 'consumed', bytes: chunk.byteLength, counters });
      continue;
    }
    if (ended) return;
    await woken();
  }
}

async function main(): Promise<void> {
  const { maxRows: _initial, batchesAhead, encode, ...options } = settings;
  const read = importBatches({ ...options, counters, batch: { ...options.batch, maxRows: () => maxRows } })(input());
  const batches = encode === undefined ? read : encodeBatches(encode, newUuidV7)(read);
  for await (const batch of batches as AsyncIterable<Batch>) {
    while (untaken >= batchesAhead) await woken();
    untaken++;
    // Encoded rows travel in their own buffer: moved to the main thread, not copied.
    const encoded = batch.encoded?.bytes.buffer;
    post({ type: 'batch', batch, counters }, encoded === undefined ? [] : [encoded as ArrayBuffer]);
  }
  post({ type: 'done', counters });
}

// The thread stays up after its last message: the main thread ends it (Worker.terminate) when it is done with it.
main().catch((error: unknown) => {
  // ImportFileError does not survive structured cloning as itself: its fields travel, the main thread rebuilds it.
  if (error instanceof ImportFileError) {
    const prefix = error.line === undefined ? '' : `line ${error.line}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    post({ type: 'file-error', problem: error.problem, message, line: error.line, counters });
  } else {
    post({ type: 'error', error, counters });
  }
});
