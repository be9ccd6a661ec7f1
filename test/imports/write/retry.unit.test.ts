import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retrying } from '../../../src/imports/write/retry.js';

const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
const transient = (error: unknown) => (error as Error).message === 'busy';

describe('retrying', () => {
  it('retries transient errors until the work succeeds', async () => {
    let calls = 0;
    const result = await retrying(
      async () => {
        if (++calls < 3) throw new Error('busy');
        return 'done';
      },
      transient,
      new AbortController().signal,
      fast,
    );
    assert.equal(result, 'done');
    assert.equal(calls, 3);
  });

  it('gives up after the last attempt with the last error', async () => {
    let calls = 0;
    await assert.rejects(
      retrying(
        () => {
          calls++;
          return Promise.reject(new Error('busy'));
        },
        transient,
        new AbortController().signal,
        fast,
      ),
      /busy/,
    );
    assert.equal(calls, 4);
  });

  it('never retries a permanent error', async () => {
    let calls = 0;
    await assert.rejects(
      retrying(
        () => {
          calls++;
          return Promise.reject(new Error('constraint'));
        },
        transient,
        new AbortController().signal,
        fast,
      ),
      /constraint/,
    );
    assert.equal(calls, 1);
  });

  it('stops waiting when the signal aborts', async () => {
    const cancel = new AbortController();
    const started = performance.now();
    const run = retrying(() => Promise.reject(new Error('busy')), transient, cancel.signal, {
      attempts: 10,
      baseDelayMs: 10_000,
      maxDelayMs: 10_000,
      random: () => 0.99,
    });
    setTimeout(() => cancel.abort(new Error('stop')), 20);
    await assert.rejects(run);
    assert.ok(performance.now() - started < 2000);
  });
});
