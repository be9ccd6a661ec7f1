import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCommit } from '../../src/kit/group-commit.js';

/** A writer that records each group and answers each request with `answer(request)`, after `gate` (when given) opens. */
function recorder<T, R>(answer: (request: T) => R) {
  const groups: T[][] = [];
  let open: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  return {
    groups,
    /** Holds the next writes until release(). */
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      open?.();
      gate = undefined;
    },
    write: async (group: readonly T[]) => {
      groups.push([...group]);
      await gate;
      return group.map(answer);
    },
  };
}

describe('GroupCommit', () => {
  test('requests submitted in the same turn are written together, each with its own answer', async () => {
    const w = recorder((n: number) => n * 10);
    const commits = new GroupCommit({ write: w.write });
    const answers = await Promise.all([commits.submit(1), commits.submit(2), commits.submit(3)]);
    assert.deepEqual(answers, [10, 20, 30]);
    assert.deepEqual(w.groups, [[1, 2, 3]]);
  });

  test('one write at a time: what comes while one runs is the next group, written as soon as it ends', async () => {
    const w = recorder((n: number) => n);
    const commits = new GroupCommit({ write: w.write });
    w.hold();
    const first = commits.submit(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first group's write has started
    assert.deepEqual(w.groups, [[1]]);
    const later = [commits.submit(2), commits.submit(3)];
    assert.deepEqual(w.groups, [[1]], 'nothing else is written while a write runs');
    w.release();
    assert.deepEqual(await Promise.all([first, ...later]), [1, 2, 3]);
    assert.deepEqual(w.groups, [[1], [2, 3]]);
  });

  test('groups hold maxGroup requests at most; a full group does not linger', async () => {
    const w = recorder((n: number) => n);
    // A linger far longer than any test: only a full group can go before it.
    const commits = new GroupCommit({ write: w.write, maxGroup: 2, lingerMs: 60_000 });
    const answers = commits.submit(1);
    const second = commits.submit(2);
    assert.deepEqual(await Promise.all([answers, second]), [1, 2]);
    assert.deepEqual(w.groups, [[1, 2]]);
  });

  test('a failed write fails every request of its group, and the next group is written', async () => {
    let calls = 0;
    const commits = new GroupCommit<number, number>({
      write: async (group) => {
        calls++;
        if (calls === 1) throw new Error('the database went away');
        return group;
      },
    });
    const failed = await Promise.allSettled([commits.submit(1), commits.submit(2)]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(await commits.submit(3), 3);
  });

  test('bounded: past maxQueued waiting requests, a submit is refused at once', async () => {
    const w = recorder((n: number) => n);
    const commits = new GroupCommit({ write: w.write, maxGroup: 1, maxQueued: 2 });
    w.hold();
    const written = commits.submit(1); // the write in progress holds it; the queue is empty
    const waiting = [commits.submit(2), commits.submit(3)];
    await assert.rejects(commits.submit(4), RangeError);
    w.release();
    assert.deepEqual(await Promise.all([written, ...waiting]), [1, 2, 3]);
  });
});
