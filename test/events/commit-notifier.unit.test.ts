// The notifier coalesces a burst of commits into at most one NOTIFY in flight and one after it,
// and a NOTIFY that fails is logged, never thrown at the writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { PostgresCommitNotifier } from '../../src/events/sql-commit-notifier.js';
import { createLogger } from '../../src/observability/logger.js';

const silent = createLogger('silent');

/** A send that stays pending until released, counting calls. */
function gatedSend() {
  let calls = 0;
  let release: (() => void) | undefined;
  let fail = false;
  const send = () => {
    calls++;
    return new Promise<void>((resolve, reject) => {
      release = () => (fail ? reject(new Error('connection refused')) : resolve());
    });
  };
  return {
    send,
    calls: () => calls,
    release: async () => {
      release?.();
      // Let the notifier's loop see the settled promise and start its next send, if any.
      for (let i = 0; i < 10; i++) await Promise.resolve();
    },
    failNext: () => (fail = true),
  };
}

test('a burst of commits while one NOTIFY is in flight sends exactly one more', async () => {
  const gate = gatedSend();
  const notifier = new PostgresCommitNotifier(gate.send, silent);
  notifier.notify();
  assert.equal(gate.calls(), 1);
  for (let i = 0; i < 50; i++) notifier.notify();
  assert.equal(gate.calls(), 1, 'nothing more while the first is in flight');
  await gate.release();
  assert.equal(gate.calls(), 2, 'one NOTIFY stands for the 50 commits during the first');
  await gate.release();
  assert.equal(gate.calls(), 2, 'nothing pending: nothing sent');
  notifier.notify();
  assert.equal(gate.calls(), 3, 'idle again: the next commit sends at once');
  await gate.release();
  await notifier.stop();
});

test('a failed NOTIFY is logged and the next commit sends again', async () => {
  const gate = gatedSend();
  const lines: string[] = [];
  const logger = createLogger(
    'warn',
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const notifier = new PostgresCommitNotifier(gate.send, logger);
  gate.failNext();
  notifier.notify();
  await gate.release();
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', /could not notify other instances of event commits/);
  notifier.notify();
  assert.equal(gate.calls(), 2);
  await gate.release();
  await notifier.stop();
});

test('stop() waits for the NOTIFY in flight and sends nothing after', async () => {
  const gate = gatedSend();
  const notifier = new PostgresCommitNotifier(gate.send, silent);
  notifier.notify();
  notifier.notify();
  let stopped = false;
  const stopping = notifier.stop().then(() => (stopped = true));
  await Promise.resolve();
  assert.equal(stopped, false, 'still in flight');
  await gate.release();
  await stopping;
  assert.equal(gate.calls(), 1, 'the pending one was dropped by stop()');
  notifier.notify();
  assert.equal(gate.calls(), 1);
});
