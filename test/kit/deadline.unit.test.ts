import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { abortSignalOf, Deadline, DeadlineExceededError, onAbort } from '../../src/kit/deadline.js';

const LONG_MS = 60_000;
const never = () => new Error('the deadline expired in a test that never lets it');

describe('Deadline as a cancellation', () => {
  test('reads as not aborted, and throwIfAborted() passes, until something stops it', () => {
    const deadline = new Deadline(LONG_MS, never);
    try {
      assert.equal(deadline.aborted, false);
      assert.equal(deadline.reason, undefined);
      deadline.throwIfAborted();
    } finally {
      deadline.dispose();
    }
  });

  test('abort() is read through aborted, reason and throwIfAborted(), and a signal made afterwards is born aborted', () => {
    const deadline = new Deadline(LONG_MS, never);
    const reason = new Error('client gone');
    deadline.abort(reason);
    deadline.dispose();
    assert.equal(deadline.aborted, true);
    assert.equal(deadline.reason, reason);
    assert.throws(
      () => deadline.throwIfAborted(),
      (error) => error === reason,
    );
    assert.equal(deadline.signal.aborted, true);
    assert.equal(deadline.signal.reason, reason);
  });

  test('a signal read before the abort hears it, once, with the first reason', () => {
    const deadline = new Deadline(LONG_MS, never);
    const heard: unknown[] = [];
    deadline.signal.addEventListener('abort', () => heard.push(deadline.signal.reason));
    const first = new Error('first');
    deadline.cancel(first);
    deadline.cancel(new Error('second'));
    deadline.abort(new Error('third'));
    deadline.dispose();
    assert.deepEqual(heard, [first]);
    assert.equal(deadline.reason, first);
  });

  test('cancel() settles a pending race() with the reason; abort() leaves it to the work', async () => {
    const cancelled = new Deadline(LONG_MS, never);
    const reason = new Error('shutting down');
    const raced = cancelled.race(new Promise<never>(() => undefined));
    cancelled.cancel(reason);
    cancelled.dispose();
    await assert.rejects(raced, (error) => error === reason);

    const aborted = new Deadline(LONG_MS, never);
    let finish!: (value: string) => void;
    const work = aborted.race(new Promise<string>((resolve) => (finish = resolve)));
    aborted.abort(new Error('client gone'));
    finish('committed');
    aborted.dispose();
    assert.equal(await work, 'committed');
  });

  test('at expiry it aborts with the error onExpiry makes, and throwIfAborted() throws it', async () => {
    const expired = new DeadlineExceededError('too slow');
    const deadline = new Deadline(1, () => expired);
    await assert.rejects(deadline.race(new Promise<never>(() => undefined)), (error) => error === expired);
    deadline.dispose();
    assert.equal(deadline.aborted, true);
    assert.throws(
      () => deadline.throwIfAborted(),
      (error) => error === expired,
    );
  });
});

describe('abortSignalOf', () => {
  test("gives a Deadline's own signal, the same one each time", () => {
    const deadline = new Deadline(LONG_MS, never);
    deadline.dispose();
    const signal = abortSignalOf(deadline);
    assert.ok(signal instanceof AbortSignal);
    assert.equal(abortSignalOf(deadline), signal);
    assert.equal(signal, deadline.signal);
  });

  test('gives an AbortSignal back as it is, and undefined as undefined', () => {
    const signal = new AbortController().signal;
    assert.equal(abortSignalOf(signal), signal);
    assert.equal(abortSignalOf(undefined), undefined);
  });
});

/** A Deadline that counts how often its AbortSignal was asked for. */
class CountedDeadline extends Deadline {
  signalReads = 0;

  constructor() {
    super(LONG_MS, never);
  }

  override get signal(): AbortSignal {
    this.signalReads++;
    return super.signal;
  }
}

describe('onAbort', () => {
  test("hears a Deadline's abort or cancel once, with the first reason, without making its AbortSignal", () => {
    for (const stop of ['abort', 'cancel'] as const) {
      const deadline = new CountedDeadline();
      const heard: unknown[] = [];
      onAbort(deadline, (reason) => heard.push(reason));
      onAbort(deadline, (reason) => heard.push(reason));
      const first = new Error(`first ${stop}`);
      deadline[stop](first);
      deadline.cancel(new Error('second'));
      deadline.dispose();
      assert.deepEqual(heard, [first, first]);
      assert.equal(deadline.signalReads, 0);
    }
  });

  test('a Deadline listener that stopped listening hears nothing; the others still hear', () => {
    const deadline = new CountedDeadline();
    const heard: string[] = [];
    const stopFirst = onAbort(deadline, () => heard.push('first'));
    onAbort(deadline, () => heard.push('second'));
    stopFirst();
    stopFirst();
    deadline.abort(new Error('gone'));
    deadline.dispose();
    assert.deepEqual(heard, ['second']);
  });

  test('a Deadline listener that stops listening while it hears the abort does not keep the next from hearing', () => {
    const deadline = new CountedDeadline();
    const heard: string[] = [];
    const stopFirst = onAbort(deadline, () => {
      heard.push('first');
      stopFirst();
    });
    onAbort(deadline, () => heard.push('second'));
    deadline.cancel(new Error('gone'));
    deadline.dispose();
    assert.deepEqual(heard, ['first', 'second']);
  });

  test('an expired Deadline is heard with the error onExpiry makes', async () => {
    const expired = new DeadlineExceededError('too slow');
    const deadline = new Deadline(1, () => expired);
    const heard = await new Promise<unknown>((resolve) => onAbort(deadline, resolve));
    deadline.dispose();
    assert.equal(heard, expired);
  });

  test('a cancellation already aborted is heard at once', () => {
    const reason = new Error('already');
    const deadline = new CountedDeadline();
    deadline.abort(reason);
    deadline.dispose();
    const controller = new AbortController();
    controller.abort(reason);
    for (const cancellation of [deadline, controller.signal]) {
      const heard: unknown[] = [];
      const stop = onAbort(cancellation, (r) => heard.push(r));
      stop();
      assert.deepEqual(heard, [reason]);
    }
    assert.equal(deadline.signalReads, 0);
  });

  test("hears an AbortSignal's abort with its reason, and nothing once it stopped listening", () => {
    const heard: unknown[] = [];
    const listening = new AbortController();
    onAbort(listening.signal, (reason) => heard.push(reason));
    const reason = new Error('aborted');
    listening.abort(reason);
    listening.abort(new Error('again'));
    const stopped = new AbortController();
    onAbort(stopped.signal, (r) => heard.push(r))();
    stopped.abort(new Error('unheard'));
    assert.deepEqual(heard, [reason]);
  });
});
