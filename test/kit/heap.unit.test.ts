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

  test('shrinks the young generation that surviving allocations grew', { skip: v8Major < 13 && `V8 ${process.versions.v8}` }, () => {
    // Objects that survive scavenges make V8 grow the young generation, as loading modules does.
    const kept: { readonly n: number; readonly s: string }[] = [];
    for (let n = 0; n < 1_500_000; n++) kept.push({ n, s: `item ${n}` });
    const grown = youngGeneration();
    assert.equal(kept.length, 1_500_000);
    kept.length = 0;
    const settled = settleHeap();
    assert.ok(youngGeneration() < grown, `young generation ${youngGeneration()} after, ${grown} before`);
    assert.ok(settled.heapAfter < settled.heapBefore);
  });

  test('uses the gc a process started with --expose-gc already has', () => {
    const calls: unknown[] = [];
    (globalThis as { gc?: unknown }).gc = (options: unknown) => calls.push(options);
    try {
      settleHeap();
    } finally {
      delete (globalThis as { gc?: unknown }).gc;
    }
    assert.deepEqual(calls, [{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
  });
});
