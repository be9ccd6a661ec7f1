/**
 * The front half in a worker thread (importBatchesInWorker) against the same front half on this
 * thread (importBatches): the same batches, counters and errors; bounded reading; cancellation
 * and the consumer stopping end the worker; a worker failure is an ImportWorkerError.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { rowCount, type Batch } from '../../../src/imports/read/batch.js';
import { decodeCreates, EncodedReader } from '../../../src/users/sqlite-batch-rows.js';
import { ImportFileError, ImportWorkerError } from '../../../src/imports/errors.js';
import { importBatches, type FrontHalfOptions } from '../../../src/imports/read/front-half.js';
import { importBatchesInWorker } from '../../../src/imports/read/front-half-worker.js';
import { ImportCounters } from '../../../src/imports/jobs/report.js';
import { generatedFile } from '../generated-users.js';

async function collect(stage: (input: AsyncIterable<Uint8Array>) => AsyncIterable<Batch>, input: AsyncIterable<Uint8Array>) {
  const batches: Batch[] = [];
  for await (const batch of stage(input)) batches.push(batch);
  return batches;
}

/** The file as 64 KiB Buffers, some of them views into a larger buffer (as network reads are). */
async function* chunksOf(file: string): AsyncGenerator<Uint8Array> {
  const whole = Buffer.from(file);
  for (let at = 0; at < whole.length; at += 64 * 1024) yield whole.subarray(at, at + 64 * 1024);
}

/** Waits for `check` to hold, turning the event loop between tries (no fixed sleeps). */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('importBatchesInWorker', () => {
  test('the same batches and counters as the front half on this thread, rejected and duplicate rows included', async () => {
    const generated = await text(generatedFile(30_000, 'csv'));
    // A rejected row (bad email), an in-file duplicate of the first row's email, and attributes that are not JSON.
    const firstEmail = generated.split('\n')[1]!.split(',')[0]!;
    const file = `${generated}not-an-email,Someone,\n${firstEmail.toUpperCase()},Again,\nok@example.com,Bad,{nope\n`;
    const options = (counters: ImportCounters): FrontHalfOptions => ({
      format: 'csv',
      counters,
      // A size read anew for each batch, as the TransactionSizer's is.
      batch: { maxRows: () => 7_000, maxBytes: 4 * 1024 * 1024 },
    });
    const here = new ImportCounters();
    const expected = await collect(importBatches(options(here)), chunksOf(file));
    const there = new ImportCounters();
    const actual = await collect(importBatchesInWorker(options(there)), chunksOf(file));
    assert.deepEqual(actual, expected);
    assert.deepEqual(there.snapshot(), here.snapshot());
    assert.equal(there.read, 30_003);
    assert.ok(there.failed >= 3);
  });

  test('with `encode`, each batch comes as its users’ statement parameters, which decode to the rows read on this thread', async () => {
    const generated = await text(generatedFile(12_000, 'csv'));
    const firstEmail = generated.split('\n')[1]!.split(',')[0]!;
    const file = `${generated}not-an-email,Someone,\n${firstEmail.toUpperCase()},Again,\n`;
    const batch = { maxRows: 5_000, maxBytes: 4 * 1024 * 1024 };
    const expected = await collect(importBatches({ format: 'csv', batch }), chunksOf(file));
    const encode = { events: true, context: { actor: 'key:k1' } };
    const actual = await collect(importBatchesInWorker({ format: 'csv', batch }, { encode }), chunksOf(file));
    assert.equal(actual.length, expected.length);
    for (const [i, got] of actual.entries()) {
      const want = expected[i]!;
      assert.equal(got.rows.length, 0);
      assert.ok(got.encoded !== undefined);
      assert.deepEqual([got.firstLine, got.lastLine, got.rejected], [want.firstLine, want.lastLine, want.rejected]);
      assert.equal(rowCount(got), want.rows.length);
      // Each user gets an id and an event; what the file said comes back as it was read.
      const ids = new Set<unknown>();
      const subjects = new Set<unknown>();
      const reader = new EncodedReader(got.encoded, 'run');
      while (reader.next()) {
        ids.add(reader.user[0]);
        subjects.add(reader.event[5]);
      }
      assert.equal(ids.size, want.rows.length);
      assert.deepEqual(subjects, ids);
      const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
      assert.deepEqual(
        plain(decodeCreates(got.encoded)),
        plain(want.rows.map(({ line, user, maybeDuplicate, markIfUnchanged }) => ({ line, user, maybeDuplicate, markIfUnchanged }))),
      );
    }
  });

  test('each batch takes the row limit current when the consumer took the one before', async () => {
    const file = await text(generatedFile(20_000, 'csv'));
    let limit = 500;
    const sizes: number[] = [];
    for await (const batch of importBatchesInWorker({ format: 'csv', batch: { maxRows: () => limit } })(chunksOf(file))) {
      sizes.push(batch.rows.length + batch.rejected.length);
      limit = 3_000;
    }
    // Two batches were under way before the new limit was heard of; then the new one.
    assert.deepEqual(sizes.slice(0, 2), [500, 500]);
    assert.ok(sizes.includes(3_000), sizes.join(', '));
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      20_000,
    );
  });

  test('a bad header is the same ImportFileError, with its problem and line', async () => {
    const stage = importBatchesInWorker({ format: 'csv' });
    await assert.rejects(collect(stage, chunksOf('email,nickname\na@example.com,x\n')), (error: unknown) => {
      assert.ok(error instanceof ImportFileError, String(error));
      assert.equal(error.problem, 'header');
      return true;
    });
    const late = `email,name\na@example.com,A\nb@example.com,"B\n`;
    await assert.rejects(collect(importBatchesInWorker({ format: 'csv' }), chunksOf(late)), (error: unknown) => {
      assert.ok(error instanceof ImportFileError, String(error));
      assert.equal(error.problem, 'syntax');
      return true;
    });
  });

  test('reading is bounded: an untaken batch stops the source', async () => {
    const file = await text(generatedFile(200_000, 'csv'));
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunksOf(file)) {
        pulled += chunk.byteLength;
        yield chunk;
      }
    }
    const bytesAhead = 256 * 1024;
    const iterator = importBatchesInWorker({ format: 'csv', batch: { maxRows: 1_000 } }, { batchesAhead: 2, bytesAhead })(source());
    const first = await iterator.next();
    assert.equal(first.done, false);
    // The worker fills its two batches and its byte credit, then everything waits for the consumer.
    const settled = (() => {
      let last = -1;
      let same = 0;
      return () => {
        same = pulled === last ? same + 1 : 0;
        last = pulled;
        return same > 2_000;
      };
    })();
    await until(settled, 'the reading to stop');
    // Three batches (the taken one, two ahead) of ~58 KB, the byte credit and one chunk being posted.
    assert.ok(pulled < 3 * 1_000 * 100 + bytesAhead + 64 * 1024, `read ${pulled} of ${file.length} bytes`);
    await iterator.return();
  });

  test('an abort ends the wait with its reason, and the source is finished', async () => {
    let finished = false;
    async function* stalled(): AsyncGenerator<Uint8Array> {
      try {
        yield Buffer.from('email,name\na@example.com,A\n');
        await new Promise(() => {}); // a client that stopped sending
      } finally {
        finished = true;
      }
    }
    const controller = new AbortController();
    const reason = new Error('cancelled by the test');
    const iterator = importBatchesInWorker({ format: 'csv' })(stalled(), { signal: controller.signal });
    const next = iterator.next();
    controller.abort(reason);
    await assert.rejects(next, (error) => error === reason);
    await until(() => finished, 'the source to be finished');
  });

  test('a failing source fails the stage with its error', async () => {
    const failure = new Error('connection reset');
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('email,name\n');
      throw failure;
    }
    await assert.rejects(collect(importBatchesInWorker({ format: 'csv' }), broken()), (error) => error === failure);
  });

  test('a worker that fails is an ImportWorkerError, not a crash', async () => {
    // A batch option the worker refuses (batchRows throws a RangeError there, not here).
    const stage = importBatchesInWorker({ format: 'csv', batch: { maxBytes: 0 } });
    await assert.rejects(collect(stage, Readable.from([Buffer.from('email,name\na@example.com,A\n')])), (error: unknown) => {
      assert.ok(error instanceof ImportWorkerError, String(error));
      assert.ok(error.cause instanceof Error);
      return true;
    });
  });
});
