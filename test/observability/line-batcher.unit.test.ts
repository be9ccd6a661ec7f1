import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { LineBatcher, type BatchTarget } from '../../src/observability/line-batcher.js';

/**
 * A stand-in for sonic-boom that records what it is handed. Its writes are "in flight" until
 * the test calls `drain()`, as sonic-boom's are until libuv's thread pool has written them.
 */
function recordingTarget(onFlushSync: () => void = () => undefined) {
  const calls: string[] = [];
  const writes: string[] = [];
  const drained: (() => void)[] = [];
  const target: BatchTarget = {
    write: (text) => {
      writes.push(text);
      calls.push('write');
    },
    flushSync: () => {
      calls.push('flushSync');
      onFlushSync();
    },
    end: () => void calls.push('end'),
    on: (_event, listener) => drained.push(listener),
  };
  const drain = () => {
    for (const listener of drained) listener();
  };
  return { target, calls, writes, drain };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const giveUpAt = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > giveUpAt) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const line = fc.string({ unit: 'binary', maxLength: 300 }).map((text) => `${text}\n`);

describe('LineBatcher', () => {
  test('hands over whole lines in order, one write per batch of at least batchChars', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 200 }), fc.integer({ min: 1, max: 4096 }), (lines, batchChars) => {
        const { target, writes } = recordingTarget();
        const batcher = new LineBatcher(target, { fd: -1, batchChars, flushMs: 60_000 });
        try {
          for (const l of lines) batcher.write(l);
          const longest = Math.max(0, ...lines.map((l) => l.length));
          for (const text of writes) {
            assert.ok(text.length >= batchChars, `a batch of ${text.length} chars, under ${batchChars}`);
            assert.ok(text.length < batchChars + longest, 'a batch holds no more than the line that filled it');
            assert.ok(text.endsWith('\n'), 'a batch ends with a whole line');
          }
          batcher.flush();
          assert.equal(writes.join(''), lines.join(''));
        } finally {
          batcher.end();
        }
      }),
    );
  });

  test('what gathered is handed over within flushMs though no more lines come', async () => {
    const { target, writes } = recordingTarget();
    const batcher = new LineBatcher(target, { fd: -1, batchChars: 4096, flushMs: 20 });
    try {
      batcher.write('alone\n');
      assert.deepEqual(writes, [], 'under a batch: held');
      await until(() => writes.length > 0, 'the periodic hand-over');
      assert.deepEqual(writes, ['alone\n']);
    } finally {
      batcher.end();
    }
  });

  test('flushSync writes what sonic-boom holds first, then what waits here, straight to the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-batcher-'));
    const fd = openSync(join(dir, 'out.log'), 'w');
    // What sonic-boom still held: written by its own flushSync(), before the lines waiting here.
    const { target, calls } = recordingTarget(() => writeSync(fd, 'held by sonic-boom\n'));
    const batcher = new LineBatcher(target, { fd, batchChars: 4096, flushMs: 60_000 });
    try {
      batcher.write('first ü\n');
      batcher.write('second\n');
      batcher.flushSync();
      assert.deepEqual(calls, ['flushSync'], 'not through write(): an exiting process never finishes that');
      assert.equal(readFileSync(join(dir, 'out.log'), 'utf8'), 'held by sonic-boom\nfirst ü\nsecond\n');
    } finally {
      batcher.end();
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('flush() calls back once the batch in flight is written, not before', async () => {
    const { target, writes, drain } = recordingTarget();
    const batcher = new LineBatcher(target, { fd: -1, batchChars: 4096, flushMs: 60_000 });
    try {
      batcher.write('last\n');
      const flushed: (Error | null | undefined)[] = [];
      batcher.flush((error) => flushed.push(error));
      batcher.flush((error) => flushed.push(error));
      assert.deepEqual(writes, ['last\n'], 'handed over at once');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(flushed, [], 'the write is still in flight');
      drain();
      assert.deepEqual(flushed, [null, null]);
      drain();
      assert.deepEqual(flushed, [null, null], 'each callback once');
    } finally {
      batcher.end();
    }
  });

  test('flush() with nothing in flight calls back on a later tick', async () => {
    const { target, writes, drain } = recordingTarget();
    const batcher = new LineBatcher(target, { fd: -1, batchChars: 4096, flushMs: 60_000 });
    try {
      batcher.write('a\n');
      batcher.flush();
      drain(); // sonic-boom has written it
      let calledBack = false;
      batcher.flush(() => (calledBack = true));
      assert.equal(calledBack, false, 'not inside flush(): callers may not expect it');
      await until(() => calledBack, 'the callback');
      assert.deepEqual(writes, ['a\n'], 'nothing more to hand over');
    } finally {
      batcher.end();
    }
  });

  test('end() hands over what waits, then ends the stream', () => {
    const { target, calls, writes } = recordingTarget();
    const batcher = new LineBatcher(target, { fd: -1, batchChars: 4096, flushMs: 60_000 });
    batcher.write('last\n');
    batcher.end();
    assert.deepEqual(writes, ['last\n']);
    assert.deepEqual(calls, ['write', 'end']);
  });
});
