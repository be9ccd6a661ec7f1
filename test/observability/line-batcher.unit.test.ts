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
  test('hands over whole lines in order, in batches as full as batchBytes allows and never over it', () => {
    const bytes = (text: string) => Buffer.byteLength(text);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 200 }), fc.integer({ min: 1, max: 4096 }), (lines, batchBytes) => {
        const { target, writes } = recordingTarget();
        const batcher = new LineBatcher(target, { fd: -1, batchBytes, flushMs: 60_000 });
        try {
          // Where each line starts in the text, and which line starts there.
          const lineAt = new Map<number, string>();
          let at = 0;
          for (const l of lines) {
            lineAt.set(at, l);
            at += l.length;
          }
          for (const l of lines) batcher.write(l);
          const handedOver = writes.length;
          batcher.flush();
          assert.equal(writes.join(''), lines.join(''));
          let offset = 0;
          for (const [i, text] of writes.entries()) {
            assert.ok(lineAt.has(offset), 'a batch starts with a whole line');
            // Over batchBytes only as one line alone: a write to a pipe of up to PIPE_BUF is atomic.
            assert.ok(bytes(text) <= batchBytes || text === lineAt.get(offset), `a batch of ${bytes(text)} bytes, over ${batchBytes}`);
            offset += text.length;
            // A batch handed over before the flush could not take the line after it.
            const next = lineAt.get(offset);
            if (i < handedOver && next !== undefined) {
              assert.ok(bytes(text) + bytes(next) > batchBytes, `a batch of ${bytes(text)} bytes left out a line of ${bytes(next)}`);
            }
          }
        } finally {
          batcher.end();
        }
      }),
    );
  });

  test('what gathered is handed over within flushMs though no more lines come', async () => {
    const { target, writes } = recordingTarget();
    const batcher = new LineBatcher(target, { fd: -1, batchBytes: 4096, flushMs: 20 });
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
    const batcher = new LineBatcher(target, { fd, batchBytes: 4096, flushMs: 60_000 });
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
    const batcher = new LineBatcher(target, { fd: -1, batchBytes: 4096, flushMs: 60_000 });
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
    const batcher = new LineBatcher(target, { fd: -1, batchBytes: 4096, flushMs: 60_000 });
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
    const batcher = new LineBatcher(target, { fd: -1, batchBytes: 4096, flushMs: 60_000 });
    batcher.write('last\n');
    batcher.end();
    assert.deepEqual(writes, ['last\n']);
    assert.deepEqual(calls, ['write', 'end']);
  });
});
