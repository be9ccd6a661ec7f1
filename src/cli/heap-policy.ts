import { setFlagsFromString } from 'node:v8';
import { pauseOptimizingCompiler } from '../kit/heap.js';

/** What one command sets in V8 as it starts. */
export interface HeapPolicy {
  /** V8 flags, for the life of the process. */
  readonly flags: readonly string[];
  /**
   * TurboFan stays off while the command starts (kit/heap.ts, pauseOptimizingCompiler) and is
   * turned on again by whatever knows it has started (main.ts, once the routes are compiled).
   */
  readonly optimizeOnceStarted?: boolean;
}

/**
 * V8's memory policy per CLI command, set when this module is evaluated. It is cli.ts's first
 * import, and ES modules evaluate their imports in order, so the flags apply before any other
 * module is loaded and before any allocation site has been judged. Commands not in the table
 * keep V8's defaults. The benches call applyHeapPolicy() to run as the command does.
 */
export const HEAP_POLICY: ReadonlyMap<string, HeapPolicy> = new Map(
  Object.entries({
    /**
     * An import's batches live until they commit (~250 ms on SQLite, up to 20,000 rows), long
     * enough to be promoted to the old generation, where they die. With V8's defaults the young
     * generation grew to 32 MB (two 16 MB semi-spaces) and the old one filled with dead batches to
     * 80–90 MB between full collections, 30–40 MB of it live: the peak RSS of a 300k-row import was
     * 254 MB. Bounded as below it was 163 MB (bench/RESULTS.md, "Import memory, issue 15,
     * 2026-12-05, second pass", with the CPU this costs):
     *   - the young generation keeps the size it starts with (1 MB semi-spaces):
     *     `--semi-space-growth-factor` is read each time V8 would grow it, so setting it to 1 before
     *     anything is allocated keeps it there (`--max-semi-space-size` is read once when the heap
     *     is made, and cannot be set from inside the process);
     *   - the old generation may grow by half of what survived the last full collection before the
     *     next one (`--heap-growing-percent`, read after each full collection), not up to 4× as V8
     *     allows itself on a machine with a few GB of memory.
     */
    import: { flags: ['--semi-space-growth-factor=1', '--heap-growing-percent=50'] },
    /**
     * Allocation-site pretenuring is off. V8 allocates the objects of a literal straight into the
     * old generation once nearly all of that literal's objects survived young collections. In a
     * server the same literal makes objects that live long (at start-up, in a burst) and objects
     * that live for one request: pg's row and field arrays are the same literals for every query.
     * On Node 20, once they were judged long-lived, every GET's row was made in the old generation,
     * dead as soon as the response was written but kept until the next full collection, and it kept
     * its field strings alive through young collections, which copied and then promoted them. At 50
     * connections on PostgreSQL that was ~270 kB promoted per young collection (fastify + pg: ~0),
     * young collections of 1.7 ms instead of 1.0, and a heap that filled with dead rows between full
     * collections (bench/RESULTS.md, issue 14, seventeenth pass, with the cost on each route).
     *
     * TurboFan waits until the server has started: what it would optimize then is start-up code,
     * and on Node 20 the memory it compiles in stayed resident (kit/heap.ts).
     */
    serve: { flags: ['--no-allocation-site-pretenuring'], optimizeOnceStarted: true },
  }),
);

/** Applies the command's policy from HEAP_POLICY to this process; a command without one changes nothing. */
export function applyHeapPolicy(command: string | undefined): void {
  // A Map, so that an argument such as `constructor` finds no policy rather than Object's.
  const policy = HEAP_POLICY.get(command ?? '');
  if (policy === undefined) return;
  for (const flag of policy.flags) setFlagsFromString(flag);
  if (policy.optimizeOnceStarted === true) pauseOptimizingCompiler();
}

// `roster <command> …`: the command is the first argument (cli.ts).
applyHeapPolicy(process.argv[2]);
