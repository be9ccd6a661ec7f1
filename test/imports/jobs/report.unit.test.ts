import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { ImportCounters, RowErrorReport, countRows, formatRowErrors } from '../../../src/imports/jobs/report.js';
import { rejected, type CheckedItem, type RowError } from '../../../src/imports/read/rows.js';
import { collect } from '../stages.js';

const hostile: RowError = { line: 12, field: '=cmd|"/c calc"!A1', reason: 'is not a known field, "quoted", with commas' };

async function* of<T>(...items: T[]) {
  for (const item of items) yield item;
}

/** A sink that takes `capacity` bytes, then holds further writes until released. */
class SlowSink extends Writable {
  readonly written: string[] = [];
  #release: (() => void) | undefined;
  constructor() {
    super({ highWaterMark: 16, decodeStrings: false });
  }
  override _write(chunk: string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(chunk);
    this.#release = () => callback();
  }
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

describe('error report formats', () => {
  test('CSV: a header, one line per error, cells quoted and formula-escaped', async () => {
    const text = (await collect(formatRowErrors('csv')(of(hostile, { line: 13, reason: 'has 1 field but the header has 2' })))).join('');
    assert.equal(text.split('\r\n')[0], 'line,field,reason');
    assert.deepEqual(parse(text), [
      ['line', 'field', 'reason'],
      ['12', `'=cmd|"/c calc"!A1`, 'is not a known field, "quoted", with commas'],
      ['13', '', 'has 1 field but the header has 2'],
    ]);
  });

  test('NDJSON: one object per error, field null when the whole row is at fault', async () => {
    const text = (await collect(formatRowErrors('ndjson')(of(hostile, { line: 13, reason: 'x' })))).join('');
    assert.deepEqual(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
      [hostile, { line: 13, field: null, reason: 'x' }],
    );
  });
});

describe('RowErrorReport', () => {
  test('waits for a slow sink (backpressure) and ends it on close', async () => {
    const sink = new SlowSink();
    const report = new RowErrorReport(sink, 'csv');
    let added = false;
    const adding = report
      .add([rejected(2, [{ field: 'email', reason: 'bad' }]), rejected(3, [{ reason: 'worse' }])])
      .then(() => (added = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(added, false, 'add() must wait while the sink is full');
    sink.release();
    await adding;
    const closing = report.close();
    await new Promise((resolve) => setImmediate(resolve));
    sink.release();
    await closing;
    assert.deepEqual(parse(sink.written.join('')), [
      ['line', 'field', 'reason'],
      ['2', 'email', 'bad'],
      ['3', '', 'worse'],
    ]);
  });

  test('a CSV report with no errors still has its header', async () => {
    const chunks: string[] = [];
    const sink = new Writable({
      decodeStrings: false,
      write(chunk: string, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    });
    await new RowErrorReport(sink, 'csv').close();
    assert.equal(chunks.join(''), 'line,field,reason\r\n');
  });

  test('add() rejects when the sink fails or is destroyed while full, or the signal aborts', async () => {
    const failing = new SlowSink();
    const adding = new RowErrorReport(failing, 'ndjson').add([rejected(2, [{ reason: 'x' }])]);
    failing.destroy(new Error('disk full'));
    await assert.rejects(adding, /disk full/);

    const closed = new SlowSink();
    const waiting = new RowErrorReport(closed, 'ndjson').add([rejected(2, [{ reason: 'x'.repeat(20) }])]);
    closed.destroy();
    await assert.rejects(waiting, /closed before/);

    const controller = new AbortController();
    const aborted = new RowErrorReport(new SlowSink(), 'ndjson').add([rejected(2, [{ reason: 'x'.repeat(20) }])], controller.signal);
    controller.abort(new Error('cancelled'));
    await assert.rejects(aborted, /cancelled/);
  });
});

describe('counters', () => {
  test('countRows counts rows read and rows the front half rejected', async () => {
    const counters = new ImportCounters();
    const items: CheckedItem[] = [rejected(2, [{ reason: 'x' }]), rejected(3, [{ reason: 'y' }])];
    await collect(countRows(counters)(of(items, [])));
    assert.deepEqual(counters.snapshot(), { read: 2, created: 0, updated: 0, skipped: 0, failed: 2, bytes: 0 });
  });
});
