import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { AttemptDeadlines } from '../../src/webhooks/attempt-deadlines.js';
import { pollFor } from '../helpers/server.js';

const deadlineError = () => Object.assign(new Error('too slow'), { code: 'DEADLINE_EXCEEDED' });
/**
 * Resolves when `signal` aborts. The deadline timers do not keep a process alive (a client's
 * sockets do, while attempts run), so the wait holds a timer of its own.
 */
async function aborted(signal: AbortSignal): Promise<void> {
  const alive = setTimeout(() => undefined, 60_000);
  try {
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    clearTimeout(alive);
  }
}

describe('AttemptDeadlines', () => {
  test('attempts begun together share a signal, aborted at the deadline with the deadline error', async () => {
    // 3 s: a slice is 1/30 of it (100 ms), wide enough that two calls in a row share it on a
    // busy machine (with 200 ms, a 7 ms slice split them once on Node 24 in CI).
    const deadlines = new AttemptDeadlines(3000, deadlineError);
    const started = performance.now();
    const first = deadlines.begin(undefined);
    const second = deadlines.begin(undefined);
    assert.equal(first.signal, second.signal);
    await aborted(first.signal);
    // Never later than the deadline of the first attempt of the slice (a timer fires no earlier than asked).
    assert.ok(performance.now() - started >= 2999, `aborted after ${performance.now() - started} ms`);
    assert.equal(first.timedOut(), true);
    assert.equal((first.signal.reason as { code?: string }).code, 'DEADLINE_EXCEEDED');
    // A new attempt never joins a slice whose deadline has passed.
    const third = deadlines.begin(undefined);
    assert.notEqual(third.signal, first.signal);
    assert.equal(third.signal.aborted, false);
    for (const d of [first, second, third]) d.end();
    deadlines.close();
  });

  test('an attempt begun a slice later gets a signal of its own', async () => {
    // 3 s: slices of 100 ms.
    const deadlines = new AttemptDeadlines(3_000, deadlineError);
    const first = deadlines.begin(undefined);
    const started = performance.now();
    await pollFor('a slice to pass', () => performance.now() - started > 100, { everyMs: 10 });
    const later = deadlines.begin(undefined);
    assert.notEqual(later.signal, first.signal);
    first.end();
    later.end();
    deadlines.close();
  });

  test("the caller's abort aborts its attempts with the caller's reason, not as a timeout", async () => {
    const deadlines = new AttemptDeadlines(30_000, deadlineError);
    const caller = new AbortController();
    const other = deadlines.begin(undefined);
    const attempt = deadlines.begin(caller.signal);
    // Different callers never share a slice: one's shutdown must not abort the other's attempts.
    assert.notEqual(attempt.signal, other.signal);
    const reason = new Error('stopping');
    caller.abort(reason);
    assert.equal(attempt.signal.aborted, true);
    assert.equal(attempt.signal.reason, reason);
    assert.equal(attempt.timedOut(), false);
    assert.equal(other.signal.aborted, false);
    attempt.end();
    other.end();
    deadlines.close();
  });

  test('watch(): each watching attempt still running is called with the reason; one that ended is not', () => {
    const deadlines = new AttemptDeadlines(30_000, deadlineError);
    const caller = new AbortController();
    const heard: string[] = [];
    const running = deadlines.begin(caller.signal);
    running.watch((reason) => heard.push(`running: ${(reason as Error).message}`));
    const ended = deadlines.begin(caller.signal);
    ended.watch(() => heard.push('ended'));
    ended.end();
    caller.abort(new Error('stopping'));
    assert.deepEqual(heard, ['running: stopping']);
    running.end();
    deadlines.close();
  });
});
