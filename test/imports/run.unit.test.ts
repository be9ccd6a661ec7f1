import { describe, test } from 'node:test';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import type { Batch } from '../../src/imports/read/batch.js';
import { ImportFileError, ImportInterruptedError, LeaseLostError } from '../../src/imports/errors.js';
import { ImportCounters } from '../../src/imports/jobs/report.js';
import { BatchSink, decideRunEnd, type RunEndInput } from '../../src/imports/run.js';
import type { BatchOutcome, BatchWriter } from '../../src/imports/write/writer.js';

const live = () => new AbortController().signal;
const base: RunEndInput = {
  jobId: 'job-1',
  pumped: { failed: false },
  cancel: live(),
  lost: live(),
  summary: false,
  written: { created: 0, updated: 0 },
};

describe('decideRunEnd', () => {
  test('succeeded: finished, no message, no error', () => {
    assert.deepEqual(decideRunEnd(base), { kind: 'finish', status: 'succeeded', message: undefined, error: undefined, summary: undefined });
  });

  test('failed: finished with the error and its cause as the message', () => {
    const error = new Error('disk full', { cause: new Error('ENOSPC') });
    assert.deepEqual(decideRunEnd({ ...base, pumped: { failed: true, error } }), {
      kind: 'finish',
      status: 'failed',
      message: 'disk full (cause: ENOSPC)',
      error,
      summary: undefined,
    });
  });

  test('a file error is reported by its own message', () => {
    const error = new ImportFileError('encoding', 'not UTF-8', { line: 3 });
    const end = decideRunEnd({ ...base, pumped: { failed: true, error } });
    assert.equal(end.kind === 'finish' && end.message, 'line 3: not UTF-8');
  });

  test('cancelled: the run signal aborted', () => {
    const error = new Error('aborted');
    const end = decideRunEnd({ ...base, pumped: { failed: true, error }, cancel: AbortSignal.abort(new Error('Ctrl-C')) });
    assert.deepEqual(end, { kind: 'finish', status: 'cancelled', message: 'cancelled', error, summary: undefined });
  });

  test('interrupted by a shutdown: suspended, its summary reports pending', () => {
    const error = new Error('aborted');
    const end = decideRunEnd({
      ...base,
      pumped: { failed: true, error },
      cancel: AbortSignal.abort(new ImportInterruptedError('shutting down')),
      summary: true,
      written: { created: 1, updated: 0 },
    });
    assert.deepEqual(end, { kind: 'suspend', error, summary: 'pending' });
  });

  test('lease lost by a renewal: a LeaseLostError caused by the renewal', () => {
    const reason = new LeaseLostError('job-1');
    const end = decideRunEnd({ ...base, pumped: { failed: true, error: new Error('aborted') }, lost: AbortSignal.abort(reason) });
    assert.equal(end.kind, 'lease-lost');
    assert.ok(end.kind === 'lease-lost' && end.error instanceof LeaseLostError && end.error.cause === reason);
  });

  test('lease lost in a batch: that error, even if the run was cancelled too', () => {
    const error = new LeaseLostError('job-1');
    const end = decideRunEnd({ ...base, pumped: { failed: true, error }, cancel: AbortSignal.abort() });
    assert.deepEqual(end, { kind: 'lease-lost', error });
  });

  test('a summary event only when the job asks for one and wrote users', () => {
    const summaryOf = (input: Partial<RunEndInput>) => {
      const end = decideRunEnd({ ...base, ...input });
      return end.kind === 'lease-lost' ? 'none' : end.summary;
    };
    assert.equal(summaryOf({ summary: true }), undefined);
    assert.equal(summaryOf({ summary: false, written: { created: 5, updated: 0 } }), undefined);
    assert.equal(summaryOf({ summary: true, written: { created: 0, updated: 2 } }), 'succeeded');
  });
});

const batch = (firstLine: number, lastLine: number): Batch => ({
  firstLine,
  lastLine,
  rows: Array.from({ length: lastLine - firstLine + 1 }, (_, i) => ({ line: firstLine + i }) as never),
  rejected: [],
});
const outcome = (created: number): BatchOutcome => ({ read: created, created, updated: 0, skipped: 0, failed: 0, errors: [] });

async function* batches(...items: Batch[]): AsyncIterable<Batch> {
  for (const item of items) yield item;
}

describe('BatchSink', () => {
  test('writes what an earlier run did not commit, counts it, and closes the writer after the last write', async () => {
    const seen: [number, number][] = [];
    let closed = false;
    const writer: BatchWriter = {
      overlapsReading: false,
      write: async (b) => {
        seen.push([b.firstLine, b.lastLine]);
        return outcome(b.rows.length);
      },
      close: async () => {
        closed = true;
      },
    };
    const counters = new ImportCounters();
    const sink = new BatchSink({ writer, signal: live(), counters, isTransient: () => false });
    await sink.consume(batches(batch(1, 3), batch(4, 6), batch(7, 9)), 5);
    await sink.close();
    assert.deepEqual(seen, [
      [6, 6],
      [7, 9],
    ]);
    assert.deepEqual(sink.written, { created: 4, updated: 0 });
    assert.equal(counters.created, 4);
    assert.equal(closed, true);
  });

  test('a writer that holds the thread (SQLite) lets I/O through between two batches already read', async () => {
    // The first batch is released by data on one socket, so it is written in the event loop's
    // poll phase (as a batch the worker posts is); the second is ready at once. Data sent on a
    // second socket during the first write is the next poll phase's: it must be read before the
    // second write starts.
    const events: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let accepted = 0;
    let bothAccepted!: () => void;
    const accepting = new Promise<void>((resolve) => (bothAccepted = resolve));
    const server = createServer((socket) => {
      socket.on('data', (data) => (data.toString() === 'first' ? release() : events.push('I/O read')));
      if (++accepted === 2) bothAccepted();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const clients = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    try {
      // Connected at both ends, so the writes below go out at once rather than on a later connect.
      await Promise.all([accepting, ...clients.map((client) => once(client, 'connect'))]);
      async function* arriving(): AsyncIterable<Batch> {
        await released;
        yield batch(1, 1);
        yield batch(2, 2);
      }
      const writer: BatchWriter = {
        overlapsReading: false,
        write: async (b) => {
          events.push(`write ${b.firstLine}`);
          if (b.firstLine === 1) clients[1]!.write('during');
          return outcome(b.rows.length);
        },
        close: async () => undefined,
      };
      const sink = new BatchSink({ writer, signal: live(), counters: new ImportCounters(), isTransient: () => false });
      const consumed = sink.consume(arriving(), 0);
      clients[0]!.write('first');
      await consumed;
    } finally {
      for (const client of clients) client.destroy();
      server.close();
    }
    assert.deepEqual(events, ['write 1', 'I/O read', 'write 2']);
  });

  test('retries a transient failure of a batch', async () => {
    let calls = 0;
    const writer: BatchWriter = {
      overlapsReading: false,
      write: async () => {
        calls++;
        if (calls === 1) throw new Error('busy');
        return outcome(1);
      },
      close: async () => undefined,
    };
    const retries: number[] = [];
    const sink = new BatchSink({
      writer,
      signal: live(),
      counters: new ImportCounters(),
      isTransient: (error) => (error as Error).message === 'busy',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      onRetry: (_error, attempt) => retries.push(attempt),
    });
    await sink.write(batch(1, 1));
    assert.equal(calls, 2);
    assert.deepEqual(retries, [1]);
  });

  test('reading ahead: a failed write aborts `failed` with its error', async () => {
    const failure = new Error('constraint');
    const writer: BatchWriter = {
      overlapsReading: true,
      write: async () => {
        throw failure;
      },
      close: async () => undefined,
    };
    const sink = new BatchSink({ writer, signal: live(), counters: new ImportCounters(), isTransient: () => false });
    await assert.rejects(sink.consume(batches(batch(1, 1)), 0), failure);
    assert.equal(sink.failed.aborted, true);
    assert.equal(sink.failure, failure);
  });
});
