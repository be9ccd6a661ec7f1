import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { settleHeap } from '../../src/kit/heap.js';

const youngGeneration = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
/** Node 20's V8 (11.3) runs a regular full collection, which leaves the young generation as it is. */
const v8Major = Number(process.versions.v8.split('.')[0]);

describe('settleHeap', () => {
  test('collects without --expose-gc and leaves no gc global, here or in a later context', () => {
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
    const settled = settleHeap();
    assert.ok(settled.heapAfter > 0 && settled.ms >= 0);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
    assert.equal(runInNewContext('typeof gc'), 'undefined');
  });

  test(
    'shrinks the young generation that surviving allocations grew, at once',
    { skip: v8Major < 13 && `V8 ${process.versions.v8}` },
    () => {
      assert.equal(growYoungGeneration(), 1_500_000);
      const grown = youngGeneration();
      const settled = settleHeap();
      assert.ok(youngGeneration() < grown, `young generation ${youngGeneration()} after, ${grown} before`);
      assert.ok(settled.heapAfter < settled.heapBefore);
      assert.equal(settled.followUp, false);
    },
  );

  test('uses the gc a process started with --expose-gc already has; young collections follow while the young generation keeps its size', async () => {
    growYoungGeneration();
    const calls: unknown[] = [];
    let minorCalls: () => void = () => undefined;
    const twoMinor = new Promise<void>((resolve) => (minorCalls = resolve));
    (globalThis as { gc?: unknown }).gc = (options: { type: string }) => {
      calls.push(options);
      if (calls.filter((call) => (call as { type: string }).type === 'minor').length === 2) minorCalls();
    };
    try {
      // This gc collects nothing, so the young generation stays grown and every follow-up runs.
      const settled = settleHeap({ followUpMs: 0, followUps: 2 });
      assert.equal(settled.followUp, true);
      // The follow-ups' timer is unref'd (it never keeps a process alive); this one keeps the test's.
      const keepAlive = setInterval(() => undefined, 60_000);
      await twoMinor.finally(() => clearInterval(keepAlive));
    } finally {
      delete (globalThis as { gc?: unknown }).gc;
    }
    assert.deepEqual(calls, [{ type: 'major', execution: 'sync', flavor: 'last-resort' }, { type: 'minor' }, { type: 'minor' }]);
  });
});

/** Objects that survive scavenges make V8 grow the young generation, as loading modules does. */
function growYoungGeneration(): number {
  const kept: { readonly n: number; readonly s: string }[] = [];
  for (let n = 0; n < 1_500_000; n++) kept.push({ n, s: `item ${n}` });
  return kept.length;
}
