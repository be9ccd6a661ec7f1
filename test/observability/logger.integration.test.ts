import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { isoTimeChunk, isoTimeOncePerMs } from '../../src/observability/logger.js';

const run = promisify(execFile);
const LOGGER = new URL('../../src/observability/logger.js', import.meta.url).href;
const serviceLogger = `const { createServiceLogger } = await import(${JSON.stringify(LOGGER)});
  const logger = createServiceLogger({ logLevel: 'info', logFormat: 'json' });`;

// The service logger gathers JSON lines into batched writes (observability/logger.ts): none may
// be lost at exit, and a quiet process's last lines must not wait for more traffic.
describe('the service logger on stdout', () => {
  // libuv's four threads kept busy once the logger is loaded, so that the log's first batch waits
  // in the thread pool's queue when the process exits: the case where the exit's synchronous write
  // could overtake it.
  const busyThreadPool = `const { pbkdf2 } = await import('node:crypto');
      for (let k = 0; k < 4; k++) pbkdf2('x', 'y', 300_000, 32, 'sha256', () => {});`;

  test('after flushLogs(), a process.exit() leaves every line on stdout in order', async () => {
    // What `roster serve` does at the end of its shutdown. ~90 KB: more than a pipe holds.
    const script = `${serviceLogger}
      const { flushLogs } = await import(${JSON.stringify(LOGGER)});
      ${busyThreadPool}
      for (let i = 0; i < 1000; i++) logger.info({ i }, 'line');
      await flushLogs(logger, 120_000);
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 64 * 1024 * 1024 });
    const lines = stdout.split('\n').filter((line) => line !== '');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { i: number }).i),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  test('every line written before an abrupt process.exit() reaches stdout whole, none twice', async () => {
    // No flush first: the batch queued in the thread pool is written as the process ends, after
    // the lines the exit writes synchronously (line-batcher.ts), so the order is not certain. Each
    // line arrives whole, though: ~90 KB, more than the pipe holds, in atomic writes of ≤ 4 KiB.
    const script = `${serviceLogger}
      ${busyThreadPool}
      for (let i = 0; i < 1000; i++) logger.info({ i }, 'line');
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 64 * 1024 * 1024 });
    const lines = stdout.split('\n').filter((line) => line !== '');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { i: number }).i).sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  test('sonic-boom under the batches writes no more than a batch at once', async () => {
    // Behind a write in flight it would join the queued batches into writes of up to 16 KiB,
    // which a pipe does not take atomically. Read in a child: its stdout is the one at stake.
    const script = `const { batchedStdout } = await import(${JSON.stringify(LOGGER)});
      process.stderr.write(String(batchedStdout().out.maxWrite));`;
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(Number(stderr), 4096);
  });

  test('every line reaches stdout when the process ends by itself', async () => {
    // No process.exit(): the event loop empties, and pino ends its stream at 'beforeExit'.
    const script = `${serviceLogger}
      for (let i = 0; i < 1000; i++) logger.info({ i }, 'line');
      setTimeout(() => { for (let i = 1000; i < 1010; i++) logger.info({ i }, 'line'); }, 1);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 64 * 1024 * 1024 });
    const lines = stdout.split('\n').filter((line) => line !== '');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { i: number }).i),
      Array.from({ length: 1010 }, (_, i) => i),
    );
  });

  test('a line written by a process that then stays quiet arrives without further writes', async () => {
    // It stays alive (a long timer) and writes nothing more: only the periodic flush can send it.
    const script = `${serviceLogger}
      logger.info('alone');
      setTimeout(() => undefined, 120_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited (${code}) before writing a line`)));
      });
      assert.equal((JSON.parse(first) as { msg: string }).msg, 'alone');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('isoTimeOncePerMs', () => {
  test("is pino's isoTime: the current time as toISOString() writes it", () => {
    const before = Date.now();
    const chunk = isoTimeOncePerMs();
    const after = Date.now();
    const match = /^,"time":"(.+)"$/.exec(chunk);
    assert.ok(match, chunk);
    const at = new Date(match[1]!);
    assert.equal(at.toISOString(), match[1]);
    assert.ok(at.getTime() >= before && at.getTime() <= after, `${match[1]} within [${before}, ${after}]`);
  });

  test('writes what toISOString() writes for any instant, whichever instants came before (its caches)', () => {
    // Whole range of Date, years -271821 to 275760 included; neighbours share a second or a millisecond.
    const instant = fc.integer({ min: -8.64e15, max: 8.64e15 });
    const near = fc.tuple(instant, fc.array(fc.integer({ min: -1500, max: 1500 }), { maxLength: 8 }));
    fc.assert(
      fc.property(near, ([start, steps]) => {
        let ms = start;
        for (const step of [0, ...steps]) {
          ms = Math.min(8.64e15, Math.max(-8.64e15, ms + step));
          assert.equal(isoTimeChunk(ms), `,"time":"${new Date(ms).toISOString()}"`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
