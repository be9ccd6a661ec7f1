import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What one memory-reducing collection gave back (bytes of V8 heap reserved, not resident set). */
export interface HeapSettled {
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly ms: number;
  /** Whether the young generation kept its size and young collections were scheduled to shrink it (Node 20). */
  readonly followUp: boolean;
}

export interface SettleOptions {
  /** Between the young collections tried while the young generation keeps its grown size. */
  readonly followUpMs?: number;
  /** How many such collections at most. */
  readonly followUps?: number;
}

type GcOptions = { type: 'major'; execution: 'sync'; flavor: 'last-resort' } | { type: 'minor' };
type GcFunction = (options?: GcOptions) => void;

/** V8 starts the young generation at 1 MiB semi-spaces; above this it is still the size loading grew it to. */
const SETTLED_YOUNG_BYTES = 4 * 1024 * 1024;
/** V8 judges the allocation rate over the last few seconds: 10 s after start an idle server's is low. */
const FOLLOW_UP_MS = 10_000;
const FOLLOW_UPS = 3;

/**
 * One memory-reducing full collection, for a process that has just finished starting.
 *
 * Why: loading the server's ~1,600 modules is a burst of allocation whose objects mostly survive,
 * so V8 grows the young generation to its maximum (2 × 32 MiB semi-spaces on Node 24, 2 × 16 on
 * Node 20) while starting, and keeps it: an idle server allocates too little to collect again, so
 * nothing shrinks it (issue 14, bench/RESULTS.md). This collection (V8's "last resort" flavour: what
 * a low-memory notification runs) compacts the old generation and, on Node 24, shrinks the young
 * one to its starting size. Node 20's V8 runs a regular full collection instead and shrinks the
 * young generation only in a young collection at a low allocation rate, so while it keeps its
 * size, up to `followUps` young collections (about a millisecond each) follow on an unref'd timer.
 * Under load the young generation grows again as allocation asks: this costs the collections, once.
 *
 * Node exposes no API for them without --expose-gc, so the flag is set just long enough for a new
 * context to hand over its `gc` and unset again: no other context sees a `gc` global.
 */
export function settleHeap(options: SettleOptions = {}): HeapSettled {
  const started = performance.now();
  const heapBefore = process.memoryUsage().heapTotal;
  const gc = gcFunction();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const heapAfter = process.memoryUsage().heapTotal;
  const ms = performance.now() - started;
  const followUp = youngGenerationBytes() > SETTLED_YOUNG_BYTES;
  if (followUp) shrinkYoungLater(gc, options.followUpMs ?? FOLLOW_UP_MS, options.followUps ?? FOLLOW_UPS);
  return { heapBefore, heapAfter, ms, followUp };
}

function shrinkYoungLater(gc: GcFunction, intervalMs: number, left: number): void {
  if (left <= 0) return;
  setTimeout(() => {
    gc({ type: 'minor' });
    if (youngGenerationBytes() > SETTLED_YOUNG_BYTES) shrinkYoungLater(gc, intervalMs, left - 1);
  }, intervalMs).unref();
}

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

/** Set while pauseOptimizingCompiler() holds TurboFan off; resumeOptimizingCompiler() clears it. */
let optimizerPaused = false;

/**
 * V8's optimizing compiler (TurboFan) off until resumeOptimizingCompiler(), for a process whose
 * start-up code runs once. Why: TurboFan compiles on V8's background threads, in memory each of
 * those threads takes from its own glibc arena, and an arena keeps what the compiler frees. An idle
 * SQLite server kept 8–9 MiB of it on Node 20 (of 96 MiB resident) and 5 MiB on Node 24, and gained
 * nothing: the code optimized was loading modules and compiling schemas (bench/RESULTS.md, issue 14,
 * nineteenth pass). V8 reads the flag at each tiering decision, so it applies from here on. An
 * operator's own TurboFan flag (node's argv or NODE_OPTIONS) wins: then this does nothing.
 */
export function pauseOptimizingCompiler(): void {
  if (optimizerPaused || operatorSetOptimizer()) return;
  setFlagsFromString('--no-turbofan');
  optimizerPaused = true;
}

/** TurboFan back on, if pauseOptimizingCompiler() turned it off; otherwise nothing. */
export function resumeOptimizingCompiler(): void {
  if (!optimizerPaused) return;
  optimizerPaused = false;
  setFlagsFromString('--turbofan');
}

/** `--turbofan`, `--no-opt`, `--no_turbofan`, `--opt=false`…: the names V8 takes for the flag, in either spelling. */
const OPTIMIZER_FLAG = /(?:^|\s)--(?:no[-_]?)?(?:turbofan|opt)(?:=|\s|$)/;

/**
 * Reads process.env outside config.ts on purpose: NODE_OPTIONS is Node's variable, not a Roster
 * setting, and this runs as `roster serve` starts, before config.ts is loaded.
 */
function operatorSetOptimizer(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => OPTIMIZER_FLAG.test(arg));
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
