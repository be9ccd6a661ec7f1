import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What one memory-reducing collection gave back (bytes of V8 heap reserved, not resident set). */
export interface HeapSettled {
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly ms: number;
}

type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * One memory-reducing full collection, for a process that has just finished starting.
 *
 * Why: loading the server's ~1,000 modules is a burst of allocation whose objects mostly survive,
 * so V8 grows the young generation to its maximum (2 × 32 MiB semi-spaces on Node 24) while
 * starting. Node 20's V8 gave that back some 30 s into idle; Node 24's keeps it until a
 * memory-reducing collection, which an idle server never triggers, so ~60 MiB of an idle
 * server's resident set was a young generation nothing used (issue 14, bench/RESULTS.md). This
 * collection (V8's "last resort" flavour: what a low-memory notification runs) compacts the old
 * generation and shrinks the young one to its initial size; under load it grows again as
 * allocation asks, so it costs only the collection itself, once (tens of milliseconds).
 *
 * Node exposes no API for it without --expose-gc, so the flag is set just long enough for a new
 * context to hand over its `gc` and unset again: no other context sees a `gc` global. Node 20's
 * V8 ignores the flavour and runs a regular full collection.
 */
export function settleHeap(): HeapSettled {
  const started = performance.now();
  const heapBefore = process.memoryUsage().heapTotal;
  gcFunction()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { heapBefore, heapAfter: process.memoryUsage().heapTotal, ms: performance.now() - started };
}

function gcFunction(): GcFunction {
  const exposed = (globalThis as { gc?: GcFunction }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as GcFunction;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
